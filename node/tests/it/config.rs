//! `config.toml`: defaults, round trips, and clear errors for bad files.

use cairn_node::config::{NodeConfig, CONFIG_FILE};

fn load(text: &str) -> Result<NodeConfig, String> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(CONFIG_FILE);
    std::fs::write(&path, text).unwrap();
    NodeConfig::load(&path).map_err(|error| error.to_string())
}

#[test]
fn an_empty_file_is_the_defaults() {
    assert_eq!(load("").unwrap(), NodeConfig::default());
}

#[test]
fn the_defaults_round_trip_through_toml() {
    let text = NodeConfig::default().to_toml().unwrap();
    assert_eq!(load(&text).unwrap(), NodeConfig::default());
}

#[test]
fn unknown_keys_and_bad_values_are_named() {
    let error = load("[p2p]\nlisten_addrs = []\n").unwrap_err();
    assert!(error.contains("listen_addrs"), "{error}");
    let error = load("[p2p]\nlisten = [\"not a multiaddr\"]\n").unwrap_err();
    assert!(error.contains("listen"), "{error}");
    let error = load("[p2p]\npersistent_peers = [\"/ip4/127.0.0.1/tcp/1\"]\n").unwrap_err();
    assert!(error.contains("persistent_peers"), "{error}");
    let error = load("[sync]\nblocks_per_request = 0\n").unwrap_err();
    assert!(error.contains("blocks_per_request"), "{error}");
    let error = load("[mempool]\nmax_transactions = -1\n").unwrap_err();
    assert!(error.contains("max_transactions"), "{error}");
    let error = load("[storage]\nretained_heights = 0\n").unwrap_err();
    assert!(error.contains("retained_heights"), "{error}");
    let error = load("[storage]\nblock_cache_mib = 1\n").unwrap_err();
    assert!(error.contains("block_cache_mib"), "{error}");
}

#[test]
fn storage_settings_reach_the_store() {
    let config = load("[storage]\nretained_heights = 500\npage_cache_pages = 4096\n").unwrap();
    let store = config.storage.store_config();
    assert_eq!(store.retained_versions, 500);
    assert_eq!(store.page_cache_pages, 4096);
    assert_eq!(
        store.account_cache_entries,
        cairn_ledger::StoreConfig::default().account_cache_entries
    );
}
