# Shortcuts; scripts/test.sh and .ci/run are the source of truth.
.PHONY: test lint bench fmt ci

test:
	scripts/test.sh

lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings

fmt:
	cargo fmt --all

bench:
	cargo bench -p cairn-ledger
	cargo bench -p cairn-consensus

ci:
	.ci/run
