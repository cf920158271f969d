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

fn forward<'a>(request_id: &'a str, ids: &[&'a str], expect: Option<ReplyExpectation>) -> Plan<'a> {
    Plan::Forward(ForwardPlan {
        request_id,
        identifiers: ids.to_vec(),
        expect,
    })
}

#[test]
fn scheduler_commands_name_their_identifiers() {
    let rules = Rules::scheduler();
    assert_eq!(
        rules.plan(b"1 SET deploy.a run now"),
        forward("1", &["deploy.a"], SINGLE)
    );
    assert_eq!(
        rules.plan(b"2 GET deploy.a"),
        forward("2", &["deploy.a"], SINGLE)
    );
    assert_eq!(
        rules.plan(b"3 REMOVE backup.x"),
        forward("3", &["backup.x"], SINGLE)
    );
    assert_eq!(
        rules.plan(b"4 REMOVERULE r1"),
        forward("4", &["r1"], SINGLE)
    );
    assert_eq!(
        rules.plan(b"5 RULE SET deploy.r backup.* daily"),
        forward("5", &["deploy.r", "backup.*"], SINGLE)
    );
}

#[test]
fn list_commands_are_filtered_but_stat_is_not() {
    let rules = Rules::scheduler();
    assert_eq!(rules.plan(b"6 QUERY"), forward("6", &[], FILTERED_LIST));
    assert_eq!(
        rules.plan(b"7 QUERY deploy."),
        forward("7", &[], FILTERED_LIST)
    );
    assert_eq!(rules.plan(b"8 LISTRULES"), forward("8", &[], FILTERED_LIST));
    assert_eq!(
        rules.plan(b"9 STAT"),
        forward(
            "9",
            &[],
            Some(ReplyExpectation {
                shape: ReplyShape::List,
                filter_items: false
            })
        )
    );
}

#[test]
fn case_and_whitespace_cannot_dodge_a_check() {
    let rules = Rules::scheduler();
    assert_eq!(
        rules.plan(b"1 set backup.x 1"),
        forward("1", &["backup.x"], SINGLE)
    );
    assert_eq!(
        rules.plan(b"1\tSet \t backup.x"),
        forward("1", &["backup.x"], SINGLE)
    );
    assert_eq!(
        rules.plan("1 SET\u{a0}backup.x 1".as_bytes()),
        forward("1", &["backup.x"], SINGLE)
    );
    assert_eq!(
        rules.plan(b"  2 rule   set a b"),
        forward("2", &["a", "b"], SINGLE)
    );
}

#[test]
fn missing_identifier_is_refused_not_forwarded() {
    let rules = Rules::scheduler();
    let missing = |id| Plan::Reject {
        request_id: id,
        rejection: Rejection::MissingIdentifier,
    };
    assert_eq!(rules.plan(b"1 GET"), missing("1"));
    assert_eq!(rules.plan(b"2 RULE SET only-id"), missing("2"));
}

#[test]
fn unknown_commands_are_forwarded_without_awaiting_a_reply() {
    let rules = Rules::scheduler();
    assert_eq!(rules.plan(b"1 FROB x y"), forward("1", &[], None));
    assert_eq!(rules.plan(b"2 RULE REMOVE x"), forward("2", &[], None));
    assert_eq!(rules.plan(b"3"), forward("3", &[], None));
}

#[test]
fn unknown_commands_can_be_rejected() {
    let rules =
        Rules::from_toml("unknown = \"reject\"\n[[command]]\nname = \"GET\"\nidentifiers = [1]\n")
            .expect("rules");
    assert_eq!(
        rules.plan(b"1 SET a b"),
        Plan::Reject {
            request_id: "1",
            rejection: Rejection::UnknownCommand
        }
    );
    assert_eq!(rules.plan(b"2 get a"), forward("2", &["a"], SINGLE));
}

#[test]
fn blank_malformed_and_auth_lines() {
    let rules = Rules::scheduler();
    assert_eq!(rules.plan(b""), Plan::Blank);
    assert_eq!(rules.plan(b" \t "), Plan::Blank);
    assert_eq!(rules.plan(b"1 GET \xff"), Plan::Malformed);
    assert_eq!(rules.plan(b"1 GET a\x00b"), Plan::Malformed);
    assert_eq!(rules.plan(b"1 GET a\rb"), Plan::Malformed);
    assert_eq!(rules.plan(b"AUTH tsr_ses_x"), Plan::Reauth);
    assert_eq!(rules.plan(b"auth x"), Plan::Reauth);
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
    assert!(err("unknown = \"drop\"\n").contains("unknown"));
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
    /// Any bytes at all: planning never panics, and whatever is forwarded is checked with words
    /// that really are in the line.
    #[test]
    fn planning_arbitrary_lines_is_total(line in proptest::collection::vec(any::<u8>(), 0..200)) {
        let rules = Rules::scheduler();
        if let Plan::Forward(plan) = rules.plan(&line) {
            let text = std::str::from_utf8(&line).expect("forwarded lines are UTF-8");
            let words: Vec<&str> = text.split_whitespace().collect();
            prop_assert_eq!(words[0], plan.request_id);
            for id in plan.identifiers {
                prop_assert!(words.contains(&id));
            }
        }
    }

    /// A checked command stays checked whatever case and spacing it is written in.
    #[test]
    fn spelling_variants_keep_the_identifier(
        upper in proptest::collection::vec(any::<bool>(), 3),
        gap in "[ \t]{1,3}",
        id in "[a-z.]{1,12}",
    ) {
        let get: String = "GET".chars().zip(upper).map(|(c, u)| if u { c } else { c.to_ascii_lowercase() }).collect();
        let line = format!("9{gap}{get}{gap}{id}");
        let rules = Rules::scheduler();
        prop_assert_eq!(rules.plan(line.as_bytes()), forward("9", &[id.as_str()], SINGLE));
    }
}
