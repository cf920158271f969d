//! Which words of a client line are identifiers, and what reply each command gets.
//!
//! A client line is `<request_id> <command words> <arguments…>`. The rules (TOML, see
//! `rules/scheduler.toml`, the built-in default) name each command, say which arguments are
//! identifiers to check against the token's namespace, and whether its reply is one line or a list
//! whose items are filtered. [`Rules::plan`] turns one line into a [`Plan`] without any I/O.
//!
//! Lines are split on any Unicode whitespace and commands match without regard to case, so an
//! upstream that is laxer about either cannot be reached around a check; lines that are not UTF-8
//! or carry control characters are refused outright.

use std::path::{Path, PathBuf};

use serde::Deserialize;

/// The scheduler grammar the edge enforces when no rules file is given.
pub const DEFAULT_RULES: &str = include_str!("../rules/scheduler.toml");

/// The shape of a command's reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReplyShape {
    /// One line carrying the request id.
    #[default]
    Single,
    /// Item lines `<request_id> <item_id> …`, ended by `<request_id> OK` or `<request_id> ERROR …`.
    List,
}

/// What happens to commands the rules do not name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UnknownCommands {
    /// Forward them (after checking the token is still valid) and await no reply.
    #[default]
    Forward,
    /// Refuse them with `<request_id> ERROR unknown_command`.
    Reject,
}

/// The reply the edge waits for after forwarding a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplyExpectation {
    /// One line or a list.
    pub shape: ReplyShape,
    /// Whether list items are kept only when their item id is in the token's namespace.
    pub filter_items: bool,
}

/// A rules file that cannot be used, with the file and the reason.
#[derive(Debug, thiserror::Error)]
pub enum RulesError {
    /// The file could not be read.
    #[error("cannot read rules file {path}: {source}")]
    Read {
        /// The rules file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid rules.
    #[error("invalid rules file {path}: {message}")]
    Invalid {
        /// The rules file.
        path: PathBuf,
        /// What is wrong, with the line where TOML knows it.
        message: String,
    },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RulesDocument {
    #[serde(default)]
    unknown: UnknownCommands,
    #[serde(default, rename = "command")]
    commands: Vec<CommandDocument>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CommandDocument {
    name: String,
    #[serde(default)]
    identifiers: Vec<usize>,
    #[serde(default)]
    reply: ReplyShape,
    #[serde(default)]
    filter_items: bool,
}

#[derive(Debug, Clone)]
struct CommandRule {
    /// Upper-case command words.
    words: Vec<String>,
    /// 1-based argument positions after the command words.
    identifiers: Vec<usize>,
    expect: ReplyExpectation,
}

impl CommandRule {
    fn matches(&self, words: &[&str]) -> bool {
        words.len() >= self.words.len()
            && self
                .words
                .iter()
                .zip(words)
                .all(|(rule, word)| rule.eq_ignore_ascii_case(word))
    }
}

/// A validated rule set.
#[derive(Debug, Clone)]
pub struct Rules {
    /// Longest command names first, so `RULE SET` wins over a plain `RULE`.
    commands: Vec<CommandRule>,
    unknown: UnknownCommands,
}

/// Why a line is answered by the edge itself instead of being forwarded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    /// A command whose identifier argument is missing.
    MissingIdentifier,
    /// A command the rules do not name, under `unknown = "reject"`.
    UnknownCommand,
}

/// What to do with one client line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan<'a> {
    /// An empty line: ignored.
    Blank,
    /// Not UTF-8, or control characters: refused without a request id.
    Malformed,
    /// `AUTH` again on an authenticated connection: refused, never forwarded (it carries a secret).
    Reauth,
    /// Answered by the edge with an error.
    Reject {
        /// The line's request id.
        request_id: &'a str,
        /// Why.
        rejection: Rejection,
    },
    /// Checked against the token, then forwarded.
    Forward(ForwardPlan<'a>),
}

/// A command to check and forward.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForwardPlan<'a> {
    /// The line's request id.
    pub request_id: &'a str,
    /// Identifiers that must be in the token's namespace; empty means "token still valid" only.
    pub identifiers: Vec<&'a str>,
    /// The reply to wait for; `None` for commands the rules do not name.
    pub expect: Option<ReplyExpectation>,
}

impl Rules {
    /// The built-in scheduler grammar.
    pub fn scheduler() -> Self {
        Self::from_toml(DEFAULT_RULES).expect("built-in rules are valid")
    }

    /// Reads and validates a rules file.
    pub fn load(path: &Path) -> Result<Self, RulesError> {
        let text = std::fs::read_to_string(path).map_err(|source| RulesError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::from_toml(&text).map_err(|message| RulesError::Invalid {
            path: path.to_owned(),
            message,
        })
    }

    /// Parses and validates rules from TOML text.
    pub fn from_toml(text: &str) -> Result<Self, String> {
        let document: RulesDocument = toml::from_str(text).map_err(|e| e.to_string())?;
        let mut commands: Vec<CommandRule> = Vec::with_capacity(document.commands.len());
        for command in document.commands {
            let words: Vec<String> = command
                .name
                .split_whitespace()
                .map(str::to_ascii_uppercase)
                .collect();
            let name = words.join(" ");
            if words.is_empty() {
                return Err("a command has an empty name".into());
            }
            if words.iter().any(|w| w.chars().any(char::is_control)) {
                return Err(format!(
                    "command {name:?} has control characters in its name"
                ));
            }
            if words[0] == "AUTH" {
                return Err("command AUTH is reserved for the edge's own authentication".into());
            }
            if commands.iter().any(|c| c.words == words) {
                return Err(format!("command {name} is listed twice"));
            }
            if command.identifiers.contains(&0) {
                return Err(format!(
                    "command {name}: identifier positions count from 1 (the first argument)"
                ));
            }
            if command.filter_items && command.reply != ReplyShape::List {
                return Err(format!(
                    "command {name}: filter_items needs reply = \"list\""
                ));
            }
            commands.push(CommandRule {
                words,
                identifiers: command.identifiers,
                expect: ReplyExpectation {
                    shape: command.reply,
                    filter_items: command.filter_items,
                },
            });
        }
        commands.sort_by_key(|c| std::cmp::Reverse(c.words.len()));
        Ok(Self {
            commands,
            unknown: document.unknown,
        })
    }

    /// Decides what to do with one client line.
    pub fn plan<'a>(&self, line: &'a [u8]) -> Plan<'a> {
        let Ok(text) = std::str::from_utf8(line) else {
            return Plan::Malformed;
        };
        if text.chars().any(|c| c.is_control() && c != '\t') {
            return Plan::Malformed;
        }
        let mut tokens = text.split_whitespace();
        let Some(request_id) = tokens.next() else {
            return Plan::Blank;
        };
        if request_id.eq_ignore_ascii_case("AUTH") {
            return Plan::Reauth;
        }
        let words: Vec<&str> = tokens.collect();
        let Some(rule) = self.commands.iter().find(|rule| rule.matches(&words)) else {
            return match self.unknown {
                UnknownCommands::Forward => Plan::Forward(ForwardPlan {
                    request_id,
                    identifiers: Vec::new(),
                    expect: None,
                }),
                UnknownCommands::Reject => Plan::Reject {
                    request_id,
                    rejection: Rejection::UnknownCommand,
                },
            };
        };
        let arguments = &words[rule.words.len()..];
        let identifiers: Option<Vec<&str>> = rule
            .identifiers
            .iter()
            .map(|&position| arguments.get(position - 1).copied())
            .collect();
        match identifiers {
            Some(identifiers) => Plan::Forward(ForwardPlan {
                request_id,
                identifiers,
                expect: Some(rule.expect),
            }),
            None => Plan::Reject {
                request_id,
                rejection: Rejection::MissingIdentifier,
            },
        }
    }
}

#[cfg(test)]
mod tests;
