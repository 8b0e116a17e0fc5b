//! Secrets from the user: passphrases, recovery phrases and raw keys. Never from a command-line
//! argument, which other users can read in the process list and which lands in shell history.
//!
//! A passphrase comes, in this order, from `--passphrase-file`, from the environment variable
//! [`PASSPHRASE_ENV`] (for scripts), or from a prompt on the terminal that does not echo. A
//! recovery phrase or raw key comes from `--from-file`, or from the terminal (not echoed), or
//! from one line of standard input when that is not a terminal.

use std::{
    io::{BufRead, IsTerminal, Read},
    path::{Path, PathBuf},
};

use zeroize::Zeroizing;

use super::error::WalletError;

/// The environment variable scripts put the keystore passphrase in.
pub const PASSPHRASE_ENV: &str = "CAIRN_WALLET_PASSPHRASE";

/// Longest secret read from a file or standard input.
const MAX_SECRET_BYTES: u64 = 4096;

/// Where the passphrase comes from.
#[derive(Clone, Debug, Default)]
pub struct PassphraseSource {
    /// A file whose first line is the passphrase.
    pub file: Option<PathBuf>,
}

impl PassphraseSource {
    /// The passphrase that unlocks key `name`.
    pub fn unlock(&self, name: &str) -> Result<Zeroizing<String>, WalletError> {
        self.read(&format!("Passphrase for key {name:?}: "), false)
    }

    /// A passphrase for a new key `name`, asked twice when prompted.
    pub fn new_key(&self, name: &str) -> Result<Zeroizing<String>, WalletError> {
        self.read(&format!("New passphrase for key {name:?}: "), true)
    }

    fn read(&self, prompt: &str, confirm: bool) -> Result<Zeroizing<String>, WalletError> {
        let passphrase = if let Some(file) = &self.file {
            first_line(read_limited_file(file)?)
        } else if let Some(value) = std::env::var_os(PASSPHRASE_ENV) {
            Zeroizing::new(value.into_string().map_err(|_| WalletError::Passphrase {
                reason: format!("{PASSPHRASE_ENV} is not UTF-8"),
            })?)
        } else {
            let first = prompt_hidden(prompt)?;
            if confirm && !first.is_empty() {
                let second = prompt_hidden("Repeat the passphrase: ")?;
                if *first != *second {
                    return Err(WalletError::Passphrase {
                        reason: "the two passphrases differ".into(),
                    });
                }
            }
            first
        };
        if passphrase.is_empty() {
            return Err(WalletError::Passphrase {
                reason: "the passphrase is empty".into(),
            });
        }
        Ok(passphrase)
    }
}

/// A recovery phrase or raw key: from `file` if given, else from the terminal or standard input.
pub fn read_secret(file: Option<&Path>, prompt: &str) -> Result<Zeroizing<String>, WalletError> {
    let text = match file {
        Some(file) => read_limited_file(file)?,
        None if std::io::stdin().is_terminal() => prompt_hidden(prompt)?,
        None => {
            let mut line = Zeroizing::new(String::new());
            std::io::stdin()
                .lock()
                .take(MAX_SECRET_BYTES)
                .read_line(&mut line)
                .map_err(WalletError::io("read", "standard input"))?;
            line
        }
    };
    let trimmed = Zeroizing::new(text.trim().to_string());
    if trimmed.is_empty() {
        return Err(WalletError::InvalidSecretKey {
            reason: "nothing was entered".into(),
        });
    }
    Ok(trimmed)
}

fn prompt_hidden(prompt: &str) -> Result<Zeroizing<String>, WalletError> {
    rpassword::prompt_password(prompt)
        .map(Zeroizing::new)
        .map_err(|error| WalletError::Passphrase {
            reason: format!(
                "cannot prompt on the terminal ({error}); set {PASSPHRASE_ENV} or pass \
                 --passphrase-file"
            ),
        })
}

fn read_limited_file(path: &Path) -> Result<Zeroizing<String>, WalletError> {
    let file = std::fs::File::open(path).map_err(WalletError::io("read", path))?;
    let mut text = Zeroizing::new(String::new());
    file.take(MAX_SECRET_BYTES + 1)
        .read_to_string(&mut text)
        .map_err(WalletError::io("read", path))?;
    if text.len() as u64 > MAX_SECRET_BYTES {
        return Err(WalletError::Passphrase {
            reason: format!(
                "{} holds more than {MAX_SECRET_BYTES} bytes",
                path.display()
            ),
        });
    }
    Ok(text)
}

/// The first line, without its line ending; the passphrase itself may hold spaces.
fn first_line(text: Zeroizing<String>) -> Zeroizing<String> {
    let line = text.split(['\n', '\r']).next().unwrap_or_default();
    Zeroizing::new(line.to_string())
}
