use super::*;

fn deliver(routes: &mut Routes, line: &[u8]) -> RouteEvent {
    match routes.dispatch(line) {
        Dispatch::Deliver(route, event) => {
            route.try_send(event.clone()).expect("room");
            event
        }
        Dispatch::Desync => panic!("unexpected desync on {line:?}"),
    }
}

#[test]
fn reply_lines_parse() {
    assert_eq!(split_reply(b"e7 OK"), Some((&b"e7"[..], &b"OK"[..])));
    assert_eq!(split_reply(b"e7"), None);
    assert!(is_status(b"OK"));
    assert!(is_status(b"OK planned 1"));
    assert!(is_status(b"ERROR"));
    assert!(!is_status(b"OKAY"));
    assert!(!is_status(b"deploy.a planned 1"));
    assert!(ends_list(b"OK"));
    assert!(ends_list(b"ERROR"));
    assert!(!ends_list(b"OK planned 1"), "a job named OK is an item");
    assert_eq!(item_id(b"deploy.a planned 1"), Some("deploy.a"));
    assert_eq!(item_id(b"\xff x"), None);
}

#[test]
fn replies_must_answer_the_oldest_command_exactly() {
    let mut routes = Routes::default();
    let (first_id, mut first) = routes.open(ReplyShape::Single).expect("open");
    let (list_id, mut list) = routes.open(ReplyShape::List).expect("open");
    assert_eq!((first_id.as_str(), list_id.as_str()), ("e1", "e2"));

    assert_eq!(
        deliver(&mut routes, b"e1 OK planned 5"),
        RouteEvent::End(b"OK planned 5".to_vec())
    );
    assert_eq!(
        deliver(&mut routes, b"e2 OK planned 5"),
        RouteEvent::Item(b"OK planned 5".to_vec())
    );
    assert_eq!(
        deliver(&mut routes, b"e2 OK"),
        RouteEvent::End(b"OK".to_vec())
    );
    assert!(routes.pending.is_empty());
    assert_eq!(
        first.try_recv().unwrap(),
        RouteEvent::End(b"OK planned 5".to_vec())
    );
    assert_eq!(
        list.try_recv().unwrap(),
        RouteEvent::Item(b"OK planned 5".to_vec())
    );
    assert_eq!(list.try_recv().unwrap(), RouteEvent::End(b"OK".to_vec()));
    assert!(matches!(
        first.try_recv(),
        Err(mpsc::error::TryRecvError::Disconnected)
    ));
}

#[test]
fn anything_unmatched_is_a_desync_that_fails_every_owed_reply() {
    for line in [
        &b"e2 OK"[..],
        b"e1",
        b"E1 OK",
        b"e1 deploy.a planned 1",
        b"e1  OK",
    ] {
        let mut routes = Routes::default();
        let (_, mut first) = routes.open(ReplyShape::Single).expect("open");
        let (_, mut second) = routes.open(ReplyShape::List).expect("open");
        assert!(
            matches!(routes.dispatch(line), Dispatch::Desync),
            "{:?}",
            String::from_utf8_lossy(line)
        );
        routes.desync();
        assert_eq!(first.try_recv().unwrap(), RouteEvent::Desync);
        assert_eq!(second.try_recv().unwrap(), RouteEvent::Desync);
        assert!(routes.open(ReplyShape::Single).is_none());
    }
    let mut idle = Routes::default();
    assert!(
        matches!(idle.dispatch(b"e1 OK"), Dispatch::Desync),
        "nothing is owed"
    );
}

#[test]
fn closing_ends_every_route_and_refuses_new_ones() {
    let mut routes = Routes::default();
    let (_, mut waiting) = routes.open(ReplyShape::List).expect("open");
    routes.close();
    assert!(matches!(
        waiting.try_recv(),
        Err(mpsc::error::TryRecvError::Disconnected)
    ));
    assert!(routes.open(ReplyShape::Single).is_none());
}
