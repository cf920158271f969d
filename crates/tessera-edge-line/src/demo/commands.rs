//! A model of ztick's command builder (`build_instruction` in `src/infrastructure/tcp_server.zig`):
//! which token lists become instructions, with which identifiers, and which get no reply at all.
//!
//! Command words are compared exactly (case-sensitive). Extra trailing arguments are ignored.
//! When no instruction can be built, ztick answers `<id> ERROR` for `QUERY`, `REMOVE`,
//! `REMOVERULE` and `RULE SET` and stays silent for everything else (`get`, `SET` without a time,
//! unknown words).

/// An instruction ztick acts on. Byte strings, as ztick has them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Instruction {
    /// `SET <job> <time…>`.
    Set {
        /// The job.
        job: Vec<u8>,
        /// Nanoseconds since the epoch (0 when the time does not parse, as in ztick).
        execution: i64,
    },
    /// `GET <job>`.
    Get {
        /// The job.
        job: Vec<u8>,
    },
    /// `QUERY [prefix]`.
    Query {
        /// The prefix (empty: every job).
        pattern: Vec<u8>,
    },
    /// `RULE SET <rule> <prefix> <runner> <args…>`.
    RuleSet {
        /// The rule.
        rule: Vec<u8>,
        /// The job prefix it fires on.
        pattern: Vec<u8>,
        /// The runner and its arguments, as LISTRULES shows them.
        runner: Vec<Vec<u8>>,
    },
    /// `REMOVE <job>`.
    Remove {
        /// The job.
        job: Vec<u8>,
    },
    /// `REMOVERULE <rule>`.
    RemoveRule {
        /// The rule.
        rule: Vec<u8>,
    },
    /// `LISTRULES`.
    ListRules,
    /// `STAT`.
    Stat,
}

impl Instruction {
    /// The job and rule identifiers (and rule prefixes) this instruction reads or changes.
    pub fn identifiers(&self) -> Vec<&[u8]> {
        match self {
            Self::Set { job, .. } | Self::Get { job } | Self::Remove { job } => vec![job],
            Self::RemoveRule { rule } => vec![rule],
            Self::RuleSet { rule, pattern, .. } => vec![rule, pattern],
            Self::Query { .. } | Self::ListRules | Self::Stat => Vec::new(),
        }
    }

    /// Whether the reply is a list (item lines, then `<id> OK`).
    pub fn lists(&self) -> bool {
        matches!(self, Self::Query { .. } | Self::ListRules | Self::Stat)
    }
}

/// The instruction ztick builds from a command's tokens (the request id excluded), if any.
pub fn build(args: &[Vec<u8>]) -> Option<Instruction> {
    let word = |i: usize, w: &str| args.get(i).is_some_and(|a| a == w.as_bytes());
    if word(0, "QUERY") {
        return Some(Instruction::Query {
            pattern: args.get(1).cloned().unwrap_or_default(),
        });
    }
    if word(0, "GET") && args.len() >= 2 {
        return Some(Instruction::Get {
            job: args[1].clone(),
        });
    }
    if word(0, "SET") && args.len() >= 3 {
        return Some(Instruction::Set {
            job: args[1].clone(),
            execution: timestamp(&args[2..]),
        });
    }
    if word(0, "RULE") && word(1, "SET") && args.len() >= 4 {
        return rule_set(args);
    }
    if word(0, "REMOVE") && args.len() >= 2 {
        return Some(Instruction::Remove {
            job: args[1].clone(),
        });
    }
    if word(0, "REMOVERULE") && args.len() >= 2 {
        return Some(Instruction::RemoveRule {
            rule: args[1].clone(),
        });
    }
    if word(0, "LISTRULES") {
        return Some(Instruction::ListRules);
    }
    if word(0, "STAT") {
        return Some(Instruction::Stat);
    }
    None
}

/// Whether ztick answers `<id> ERROR` to a command it could not build (instead of silence).
pub fn errors_when_unbuilt(args: &[Vec<u8>]) -> bool {
    let word = |i: usize, w: &str| args.get(i).is_some_and(|a| a == w.as_bytes());
    word(0, "QUERY")
        || word(0, "REMOVE")
        || word(0, "REMOVERULE")
        || (word(0, "RULE") && word(1, "SET"))
}

/// ztick's runners and the arguments each needs; anything else builds no rule.
fn rule_set(args: &[Vec<u8>]) -> Option<Instruction> {
    let runner = &args[4..];
    let is = |i: usize, w: &str| runner.get(i).is_some_and(|a| a == w.as_bytes());
    let starts = |i: usize, p: &str| runner.get(i).is_some_and(|a| a.starts_with(p.as_bytes()));
    let one_of = |i: usize, words: &[&str]| words.iter().any(|w| is(i, w));
    let kept = if is(0, "shell") && runner.len() >= 2 {
        2
    } else if is(0, "amqp") && runner.len() >= 4 {
        4
    } else if is(0, "direct") && runner.len() >= 2 {
        runner.len()
    } else if is(0, "awf") && runner.len() >= 2 {
        let inputs = &runner[2..];
        if !inputs.len().is_multiple_of(2) || inputs.chunks(2).any(|pair| pair[0] != b"--input") {
            return None;
        }
        runner.len()
    } else if is(0, "http")
        && runner.len() >= 3
        && one_of(1, &["GET", "POST", "PUT", "DELETE"])
        && (starts(2, "http://") || starts(2, "https://"))
    {
        3
    } else if is(0, "redis")
        && runner.len() >= 4
        && starts(1, "redis://")
        && one_of(2, &["PUBLISH", "RPUSH", "LPUSH", "SET"])
    {
        4
    } else {
        return None;
    };
    Some(Instruction::RuleSet {
        rule: args[2].clone(),
        pattern: args[3].clone(),
        runner: runner[..kept].to_vec(),
    })
}

/// ztick's time argument: `YYYY-MM-DD HH:MM:SS` over two tokens, else integer nanoseconds, else 0.
fn timestamp(args: &[Vec<u8>]) -> i64 {
    if let [date, time, ..] = args {
        if let Some(ns) = datetime(date, time) {
            return ns;
        }
    }
    std::str::from_utf8(&args[0])
        .ok()
        .and_then(|text| text.parse::<i64>().ok())
        .unwrap_or(0)
}

fn datetime(date: &[u8], time: &[u8]) -> Option<i64> {
    let number = |bytes: &[u8]| -> Option<i64> {
        let text = std::str::from_utf8(bytes).ok()?;
        text.parse::<u16>().ok().map(i64::from)
    };
    if date.len() != 10 || date[4] != b'-' || date[7] != b'-' {
        return None;
    }
    if time.len() != 8 || time[2] != b':' || time[5] != b':' {
        return None;
    }
    let (year, month, day) = (
        number(&date[..4])?,
        number(&date[5..7])?,
        number(&date[8..])?,
    );
    let (hour, minute, second) = (
        number(&time[..2])?,
        number(&time[3..5])?,
        number(&time[6..])?,
    );
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 59
    {
        return None;
    }
    let leap = |y: i64| (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let mut days: i64 = (1970..year).map(|y| if leap(y) { 366 } else { 365 }).sum();
    const MONTH_DAYS: [i64; 12] = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    days += MONTH_DAYS[..(month - 1) as usize].iter().sum::<i64>();
    if month > 2 && leap(year) {
        days += 1;
    }
    days += day - 1;
    Some((days * 86_400 + hour * 3_600 + minute * 60 + second) * 1_000_000_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(line: &str) -> Vec<Vec<u8>> {
        line.split(' ').map(|w| w.as_bytes().to_vec()).collect()
    }

    #[test]
    fn commands_and_their_argument_counts() {
        assert_eq!(
            build(&args("SET deploy.a 2030-03-30 02:00:00")),
            Some(Instruction::Set {
                job: b"deploy.a".to_vec(),
                execution: 1_901_066_400_000_000_000
            })
        );
        assert_eq!(
            build(&args("SET deploy.a 1711612800000000000 extra")),
            Some(Instruction::Set {
                job: b"deploy.a".to_vec(),
                execution: 1_711_612_800_000_000_000
            })
        );
        assert_eq!(
            build(&args("SET deploy.daily ./ship.sh")),
            Some(Instruction::Set {
                job: b"deploy.daily".to_vec(),
                execution: 0
            })
        );
        assert_eq!(build(&args("SET deploy.a")), None);
        assert_eq!(build(&args("get deploy.a")), None);
        assert_eq!(build(&args("GET")), None);
        assert!(!errors_when_unbuilt(&args("GET")));
        assert!(errors_when_unbuilt(&args("REMOVE")));
        assert!(errors_when_unbuilt(&args("RULE SET x")));
        assert_eq!(
            build(&args("QUERY")),
            Some(Instruction::Query {
                pattern: Vec::new()
            })
        );
        assert_eq!(build(&args("STAT verbose")), Some(Instruction::Stat));
        assert_eq!(
            build(&args("RULE SET deploy.r deploy. shell /bin/true")),
            Some(Instruction::RuleSet {
                rule: b"deploy.r".to_vec(),
                pattern: b"deploy.".to_vec(),
                runner: args("shell /bin/true"),
            })
        );
        assert_eq!(build(&args("RULE SET deploy.r deploy. shell")), None);
        assert_eq!(
            build(&args("RULE SET deploy.r deploy. http GET ftp://x")),
            None
        );
        assert_eq!(
            build(&args("RULE SET deploy.r deploy. awf wf --input")),
            None
        );
        assert!(build(&args("RULE SET deploy.r deploy. awf wf --input a=b")).is_some());
    }
}
