//! Which part of an encoder trains: `none`, `bn`, `tail:N` or `all`.

use std::fmt;
use std::str::FromStr;

use super::TuneError;

/// The part of the encoder whose own weights train.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Train {
    /// Nothing: the whole encoder is the frozen prefix (the adapter alone adapts).
    #[default]
    None,
    /// The whole graph runs in training mode, but only BatchNormalization's scale and bias
    /// train (TinyTL-like: cheap, few parameters).
    Bn,
    /// The last `n` blocks (see [`super::blocks`]) with all their weights; the rest is frozen.
    Tail(usize),
    /// Every weight of the encoder.
    All,
}

impl FromStr for Train {
    type Err = TuneError;

    fn from_str(s: &str) -> Result<Train, TuneError> {
        let bad = || TuneError::Selection(s.to_string());
        match s.trim().to_ascii_lowercase().as_str() {
            "none" => Ok(Train::None),
            "bn" => Ok(Train::Bn),
            "all" => Ok(Train::All),
            other => {
                let n = other.strip_prefix("tail:").ok_or_else(bad)?;
                match n.parse::<usize>() {
                    Ok(n) if n >= 1 => Ok(Train::Tail(n)),
                    _ => Err(bad()),
                }
            }
        }
    }
}

impl fmt::Display for Train {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Train::None => f.write_str("none"),
            Train::Bn => f.write_str("bn"),
            Train::Tail(n) => write!(f, "tail:{n}"),
            Train::All => f.write_str("all"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_every_form() {
        for (text, want) in [
            ("none", Train::None),
            ("bn", Train::Bn),
            ("tail:3", Train::Tail(3)),
            ("all", Train::All),
        ] {
            let got: Train = text.parse().unwrap();
            assert_eq!(got, want);
            assert_eq!(got.to_string(), text);
        }
        assert_eq!("ALL".parse::<Train>().unwrap(), Train::All);
        for bad in ["tail:0", "tail:", "tail:-1", "tail:x", "last", ""] {
            let e = bad.parse::<Train>().unwrap_err();
            assert!(
                matches!(e, TuneError::Selection(ref s) if s == bad),
                "{bad}: {e}"
            );
        }
    }
}
