use proptest::prelude::*;

use super::*;

const SINGLE: Option<ReplyExpectation> = Some(ReplyExpectation {
    shape: ReplyShape::Single,
    filter_items: false,
});
const FILTERED_LIST: Option<ReplyExpectation> = Some(ReplyExpectation {
    shape: ReplyShape::List,
    filter_items: true,
});

fn strings(words: &[&str]) -> Vec<String> {
    words.iter().map(|w| (*w).to_owned()).collect()
}

fn forward(
    request_id: &str,
    words: &[&str],
    ids: &[&str],
    expect: Option<ReplyExpectation>,
) -> Plan {
    Plan::Forward(ForwardPlan {
        request_id: request_id.to_owned(),
        words: strings(words),
        identifiers: strings(ids),
        expect,
    })
}

fn reject(request_id: &str, rejection: Rejection) -> Plan {
    Plan::Reject {
        request_id: request_id.to_owned(),
        rejection,
    }
}

#[test]
fn ztick_commands_name_their_identifiers() {
    let rules = Rules::scheduler();
    assert_eq!(
        rules.plan(b"1 SET deploy.a 2030-03-30 02:00:00"),
        forward(
            "1",
            &["SET", "deploy.a", "2030-03-30", "02:00:00"],
            &["deploy.a"],
            SINGLE
        )
    );
    assert_eq!(
        rules.plan(b"2 GET deploy.a"),
        forward("2", &["GET", "deploy.a"], &["deploy.a"], SINGLE)
    );
    assert_eq!(
        rules.plan(b"3 REMOVE backup.x"),
        forward("3", &["REMOVE", "backup.x"], &["backup.x"], SINGLE)
    );
    assert_eq!(
        rules.plan(b"4 REMOVERULE r1"),
        forward("4", &["REMOVERULE", "r1"], &["r1"], SINGLE)
    );
    assert_eq!(
        rules.plan(b"5 RULE SET deploy.r backup. shell /bin/true"),
        forward(
            "5",
            &["RULE", "SET", "deploy.r", "backup.", "shell", "/bin/true"],
            &["deploy.r", "backup."],
            SINGLE
        )
    );
    assert_eq!(
        rules.plan(b"6 QUERY"),
        forward("6", &["QUERY"], &[], FILTERED_LIST)
    );
    let stat = Some(ReplyExpectation {
        shape: ReplyShape::List,
        filter_items: false,
    });
    assert_eq!(rules.plan(b"9 STAT"), forward("9", &["STAT"], &[], stat));
}

#[test]
fn identifiers_are_checked_as_ztick_reads_them() {
    let rules = Rules::scheduler();
    assert_eq!(
        rules.plan(br#"b1 "SET" backup.q1f 1911612800000000000"#),
        forward(
            "b1",
            &["SET", "backup.q1f", "1911612800000000000"],
            &["backup.q1f"],
            SINGLE
        )
    );
    assert_eq!(
        rules.plan(br#"d1 "REMOVE" "backup.victim""#),
        forward(
            "d1",
            &["REMOVE", "backup.victim"],
            &["backup.victim"],
            SINGLE
        )
    );
    assert!(matches!(
        rules.plan(b"b2\tX SET backup.q2f 1"),
        Plan::Invalid(_)
    ));
    assert!(matches!(
        rules.plan("b3\u{a0}X SET backup.q 1".as_bytes()),
        Plan::Invalid(_)
    ));
    assert!(matches!(
        rules.plan(br#""b4 GET deploy.a"#),
        Plan::Invalid(_)
    ));
    assert!(matches!(rules.plan(b"1 GET deploy.a\r"), Plan::Invalid(_)));
}

#[test]
fn what_ztick_would_ignore_is_refused_by_name() {
    let rules = Rules::scheduler();
    assert_eq!(
        rules.plan(b"1 get deploy.a"),
        reject(
            "1",
            Rejection::WrongCase {
                command: "GET".into()
            }
        )
    );
    assert_eq!(
        rules.plan(b"2 RULE set a b"),
        reject(
            "2",
            Rejection::WrongCase {
                command: "RULE SET".into()
            }
        )
    );
    assert_eq!(
        rules.plan(b"3 SET deploy.a"),
        reject(
            "3",
            Rejection::MissingArguments {
                command: "SET".into(),
                needed: 2
            }
        )
    );
    assert_eq!(
        rules.plan(b"4 GET"),
        reject(
            "4",
            Rejection::MissingArguments {
                command: "GET".into(),
                needed: 1
            }
        )
    );
    assert_eq!(
        rules.plan(b"5 RULE SET only-id"),
        reject(
            "5",
            Rejection::MissingArguments {
                command: "RULE SET".into(),
                needed: 2
            }
        )
    );
    assert_eq!(
        rules.plan(b"6 FROB x"),
        reject("6", Rejection::UnknownCommand)
    );
    assert_eq!(rules.plan(b"7"), reject("7", Rejection::MissingCommand));
    assert!(Rejection::WrongCase {
        command: "GET".into()
    }
    .reply_body()
    .contains("case-sensitive"));
}

#[test]
fn unknown_commands_can_be_forwarded_re_serialised() {
    let rules = Rules::from_toml("unknown = \"forward\"\n").expect("rules");
    let Plan::Forward(plan) = rules.plan(br#"1 FROB "a b""#) else {
        panic!("forwarded")
    };
    assert_eq!(plan.expect, None);
    assert_eq!(
        plan.upstream_line(Dialect::Ztick, "e1"),
        br#"e1 FROB "a b""#.to_vec()
    );
}

#[test]
fn the_generic_dialect_matches_any_case_and_forwards_the_rules_spelling() {
    let rules =
        Rules::from_toml("dialect = \"generic\"\n[[command]]\nname = \"GET\"\nidentifiers = [1]\n")
            .expect("rules");
    assert_eq!(rules.max_line(), 8192);
    assert_eq!(
        rules.plan(b"2 get a"),
        forward("2", &["GET", "a"], &["a"], SINGLE)
    );
    assert!(matches!(rules.plan(br#"2 "GET" a"#), Plan::Invalid(_)));
}

#[test]
fn blank_request_ids_and_auth_lines() {
    let rules = Rules::scheduler();
    assert_eq!(rules.plan(b""), Plan::Blank);
    assert_eq!(rules.plan(b"   "), Plan::Blank);
    assert!(matches!(rules.plan(b" \t "), Plan::Invalid(_)));
    assert!(matches!(rules.plan(b"1 GET \xff"), Plan::Invalid(_)));
    assert!(matches!(rules.plan(b"1 GET a\x00b"), Plan::Invalid(_)));
    assert!(matches!(
        rules.plan(br#""a b" GET deploy.a"#),
        Plan::Invalid(_)
    ));
    assert!(matches!(
        rules.plan(br#""" GET deploy.a"#),
        Plan::Invalid(_)
    ));
    assert_eq!(rules.plan(b"AUTH tsr_ses_x"), Plan::Reauth);
    assert_eq!(rules.plan(b"auth x"), Plan::Reauth);
    assert_eq!(rules.plan(br#""AUTH" x"#), Plan::Reauth);
}

#[test]
fn bad_rules_files_say_what_is_wrong() {
    let err = |text: &str| Rules::from_toml(text).expect_err("must be refused");
    assert!(
        err("[[command]]\nname = \"GET\"\n[[command]]\nname = \"get\"\n").contains("listed twice")
    );
    assert!(err("[[command]]\nname = \"GET\"\nidentifiers = [0]\n").contains("count from 1"));
    assert!(err("[[command]]\nname = \"GET\"\nfilter_items = true\n").contains("filter_items"));
    assert!(err("[[command]]\nname = \"auth\"\n").contains("reserved"));
    assert!(err("[[command]]\nname = \"  \"\n").contains("empty name"));
    assert!(err("[[command]]\nname = \"GET\"\nidentifers = [1]\n").contains("identifers"));
    assert!(err("[[command]]\nname = \"G\\tET\"\n").contains("plain words"));
    assert!(
        err("[[command]]\nname = \"GET\"\narguments = 0\nidentifiers = [1]\n")
            .contains("arguments")
    );
    assert!(err("unknown = \"drop\"\n").contains("unknown"));
    assert!(err("dialect = \"redis\"\n").contains("redis"));
    assert!(err("max_line = 5000\n").contains("4095"));
    assert!(err("[[command]]\nname = \"GET\"\nreply = \"many\"\n").contains("many"));
}

#[test]
fn loading_names_the_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("rules.toml");
    std::fs::write(&path, "[[command]]\nname = 5\n").expect("write");
    let message = Rules::load(&path).expect_err("invalid").to_string();
    assert!(message.contains("rules.toml"), "{message}");
    let missing = Rules::load(&dir.path().join("absent.toml"))
        .expect_err("missing")
        .to_string();
    assert!(missing.contains("absent.toml"), "{missing}");
}

proptest! {
    /// Any bytes at all: planning never panics, and what is forwarded re-reads as the same tokens.
    #[test]
    fn planning_arbitrary_lines_is_total(line in proptest::collection::vec(any::<u8>(), 0..200)) {
        let rules = Rules::scheduler();
        if let Plan::Forward(plan) = rules.plan(&line) {
            let forwarded = plan.upstream_line(Dialect::Ztick, "e1");
            let tokens = Dialect::Ztick.tokenize(&forwarded).expect("canonical lines parse");
            prop_assert_eq!(&tokens[1..], plan.words.as_slice());
        }
    }
}
