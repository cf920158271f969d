//! Which tokens of a client line are identifiers, and what reply each command gets.
//!
//! A client line is `<request_id> <command words> <arguments…>`, split by the rules file's
//! [`Dialect`] exactly as the upstream splits it. The rules (TOML, see `rules/scheduler.toml`, the
//! built-in default for ztick) name each command, how many arguments the upstream needs before it
//! acts (fewer, and ztick stays silent), which arguments are identifiers to check against the
//! token's namespace, and whether the reply is one line or a list whose items are filtered.
//! [`Rules::plan`] turns one line into a [`Plan`] without any I/O.
//!
//! Command words match exactly in the ztick dialect, as ztick matches them; a word that differs
//! only in case is refused by name (ztick would ignore it and the client would wait). The generic
//! dialect matches without regard to case and forwards the rules file's spelling, so a laxer
//! upstream cannot be reached around a check either way. Commands the rules do not name are
//! refused unless the file says `unknown = "forward"`.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::grammar::Dialect;

/// The ztick grammar the edge enforces when no rules file is given.
pub const DEFAULT_RULES: &str = include_str!("../rules/scheduler.toml");

/// The shape of a command's reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReplyShape {
    /// One line `<request_id> OK …` or `<request_id> ERROR …`.
    #[default]
    Single,
    /// Item lines `<request_id> <item_id> …`, ended by exactly `<request_id> OK` or
    /// `<request_id> ERROR` (nothing after the status word: an item can be named `OK`).
    List,
}

/// What happens to commands the rules do not name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UnknownCommands {
    /// Forward them, re-serialised, after checking the token is still valid; await no reply (a
    /// reply to one is a desync and resets the upstream link).
    Forward,
    /// Refuse them with `<request_id> ERROR unknown_command`.
    #[default]
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
    dialect: Dialect,
    #[serde(default)]
    max_line: Option<usize>,
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
    arguments: Option<usize>,
    #[serde(default)]
    identifiers: Vec<usize>,
    #[serde(default)]
    reply: ReplyShape,
    #[serde(default)]
    filter_items: bool,
}

#[derive(Debug, Clone)]
struct CommandRule {
    /// The command words, as the upstream spells them.
    words: Vec<String>,
    /// Fewest arguments (after the command words) the upstream acts on.
    arguments: usize,
    /// 1-based argument positions after the command words.
    identifiers: Vec<usize>,
    expect: ReplyExpectation,
}

impl CommandRule {
    fn matches(&self, words: &[String], exact: bool) -> bool {
        words.len() >= self.words.len()
            && self.words.iter().zip(words).all(|(rule, word)| {
                if exact {
                    rule == word
                } else {
                    rule.eq_ignore_ascii_case(word)
                }
            })
    }

    fn name(&self) -> String {
        self.words.join(" ")
    }
}

/// A validated rule set.
#[derive(Debug, Clone)]
pub struct Rules {
    dialect: Dialect,
    max_line: usize,
    /// Longest command names first, so `RULE SET` wins over a plain `RULE`.
    commands: Vec<CommandRule>,
    unknown: UnknownCommands,
}

/// Why a line is answered by the edge itself instead of being forwarded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejection {
    /// A request id and nothing else (ztick skips such a line without a word).
    MissingCommand,
    /// Fewer arguments than the upstream needs (ztick would stay silent or refuse).
    MissingArguments {
        /// The command.
        command: String,
        /// How many it needs.
        needed: usize,
    },
    /// A known command spelled in another case (ztick would ignore it).
    WrongCase {
        /// The spelling the upstream knows.
        command: String,
    },
    /// A command the rules do not name, under `unknown = "reject"`.
    UnknownCommand,
}

impl Rejection {
    /// The text after `<request_id> ERROR `.
    pub fn reply_body(&self) -> String {
        match self {
            Self::MissingCommand => "missing_command".to_owned(),
            Self::MissingArguments { command, needed } => {
                format!("missing_argument {command} needs {needed} argument(s)")
            }
            Self::WrongCase { command } => {
                format!("unknown_command commands are case-sensitive, did you mean {command}")
            }
            Self::UnknownCommand => "unknown_command".to_owned(),
        }
    }
}

/// What to do with one client line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// An empty line: ignored.
    Blank,
    /// A line the edge cannot read exactly as the upstream would: refused, without a request id
    /// (it cannot be trusted), the connection kept.
    Invalid(String),
    /// `AUTH` again on an authenticated connection: refused, never forwarded (it carries a secret).
    Reauth,
    /// Answered by the edge with an error.
    Reject {
        /// The line's request id.
        request_id: String,
        /// Why.
        rejection: Rejection,
    },
    /// Checked against the token, then forwarded.
    Forward(ForwardPlan),
}

/// A command to check and forward.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForwardPlan {
    /// The client's request id (the edge uses its own upstream).
    pub request_id: String,
    /// The command words and arguments, unquoted, as the upstream will read them.
    pub words: Vec<String>,
    /// Identifiers that must be in the token's namespace; empty means "token still valid" only.
    pub identifiers: Vec<String>,
    /// The reply to wait for; `None` for commands the rules do not name.
    pub expect: Option<ReplyExpectation>,
}

impl ForwardPlan {
    /// The canonical line to send upstream under the edge's own request id (no terminator).
    pub fn upstream_line(&self, dialect: Dialect, upstream_id: &str) -> Vec<u8> {
        let mut tokens: Vec<&str> = Vec::with_capacity(self.words.len() + 1);
        tokens.push(upstream_id);
        tokens.extend(self.words.iter().map(String::as_str));
        dialect.serialize(&tokens)
    }
}

/// Whether a request id can be echoed back to the client as one unambiguous word.
fn plain_request_id(id: &str) -> bool {
    !id.is_empty() && !id.contains([' ', '"', '\\'])
}

impl Rules {
    /// The built-in ztick grammar.
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

    /// The tokenizer.
    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// The longest client line, newline excluded.
    pub fn max_line(&self) -> usize {
        self.max_line
    }

    /// Parses and validates rules from TOML text.
    pub fn from_toml(text: &str) -> Result<Self, String> {
        let document: RulesDocument = toml::from_str(text).map_err(|e| e.to_string())?;
        let dialect = document.dialect;
        let max_line = document
            .max_line
            .unwrap_or_else(|| dialect.default_max_line());
        if let Some(limit) = dialect
            .upstream_max_line()
            .filter(|&limit| max_line > limit)
        {
            return Err(format!(
                "max_line {max_line} is longer than the {dialect:?} upstream reads ({limit})"
            ));
        }
        let mut commands: Vec<CommandRule> = Vec::with_capacity(document.commands.len());
        for command in document.commands {
            let words: Vec<String> = command
                .name
                .split(' ')
                .filter(|w| !w.is_empty())
                .map(str::to_owned)
                .collect();
            let name = words.join(" ");
            if words.is_empty() {
                return Err("a command has an empty name".into());
            }
            if dialect.tokenize(name.as_bytes()).ok().as_ref() != Some(&words) {
                return Err(format!(
                    "command {name:?}: its words must be plain words of the {dialect:?} dialect"
                ));
            }
            if words[0].eq_ignore_ascii_case("AUTH") {
                return Err("command AUTH is reserved for the edge's own authentication".into());
            }
            if commands.iter().any(|c| {
                c.words.len() == words.len()
                    && c.words
                        .iter()
                        .zip(&words)
                        .all(|(a, b)| a.eq_ignore_ascii_case(b))
            }) {
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
            let highest = command.identifiers.iter().copied().max().unwrap_or(0);
            let arguments = command.arguments.unwrap_or(highest);
            if arguments < highest {
                return Err(format!(
                    "command {name}: arguments = {arguments} but identifier {highest} is checked"
                ));
            }
            commands.push(CommandRule {
                words,
                arguments,
                identifiers: command.identifiers,
                expect: ReplyExpectation {
                    shape: command.reply,
                    filter_items: command.filter_items,
                },
            });
        }
        commands.sort_by_key(|c| std::cmp::Reverse(c.words.len()));
        Ok(Self {
            dialect,
            max_line,
            commands,
            unknown: document.unknown,
        })
    }

    /// Decides what to do with one client line (terminator removed).
    pub fn plan(&self, line: &[u8]) -> Plan {
        let mut tokens = match self.dialect.tokenize(line) {
            Ok(tokens) => tokens.into_iter(),
            Err(fault) => return Plan::Invalid(fault.to_string()),
        };
        let Some(request_id) = tokens.next() else {
            return Plan::Blank;
        };
        if request_id.eq_ignore_ascii_case("AUTH") {
            return Plan::Reauth;
        }
        if !plain_request_id(&request_id) {
            return Plan::Invalid("the request id must be one plain word".to_owned());
        }
        let mut words: Vec<String> = tokens.collect();
        let reject = |rejection| Plan::Reject {
            request_id: request_id.clone(),
            rejection,
        };
        if words.is_empty() {
            return reject(Rejection::MissingCommand);
        }
        let exact = self.dialect == Dialect::Ztick;
        let found = self.commands.iter().find(|rule| rule.matches(&words, true));
        let rule = match found {
            Some(rule) => rule,
            None => match self
                .commands
                .iter()
                .find(|rule| rule.matches(&words, false))
            {
                Some(rule) if exact => {
                    return reject(Rejection::WrongCase {
                        command: rule.name(),
                    })
                }
                Some(rule) => {
                    // Forward the spelling the rules file gives, not the client's.
                    words.splice(..rule.words.len(), rule.words.iter().cloned());
                    rule
                }
                None => {
                    return match self.unknown {
                        UnknownCommands::Forward => Plan::Forward(ForwardPlan {
                            request_id,
                            words,
                            identifiers: Vec::new(),
                            expect: None,
                        }),
                        UnknownCommands::Reject => reject(Rejection::UnknownCommand),
                    };
                }
            },
        };
        let arguments = &words[rule.words.len()..];
        if arguments.len() < rule.arguments {
            return reject(Rejection::MissingArguments {
                command: rule.name(),
                needed: rule.arguments,
            });
        }
        let identifiers = rule
            .identifiers
            .iter()
            .map(|&position| arguments[position - 1].clone())
            .collect();
        Plan::Forward(ForwardPlan {
            request_id,
            identifiers,
            expect: Some(rule.expect),
            words,
        })
    }
}

#[cfg(test)]
mod tests;
