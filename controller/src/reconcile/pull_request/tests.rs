use expect_test::expect;

use super::{Seen, Trail, step};
use crate::github::{Ensured, PullState};

/// Every (trail, seen) pair and what the state machine does; the trail's pull request is #7.
#[test]
fn the_pull_request_state_machine() {
    let trails = [Trail::None, Trail::Open(7), Trail::Closed(7), Trail::Merged(7)];
    let seen = [
        Seen::Landed,
        Seen::Named(PullState::Open),
        Seen::Named(PullState::Closed),
        Seen::Named(PullState::Merged),
        Seen::Ensured(7, Ensured::Opened),
        Seen::Ensured(7, Ensured::Found),
        Seen::Ensured(7, Ensured::Updated),
        Seen::Ensured(8, Ensured::Found),
        Seen::Ensured(8, Ensured::Updated),
    ];
    let mut table = String::new();
    for trail in trails {
        for seen in seen {
            let (event, then) = step(trail, seen);
            let event = event.map_or("-", |e| e.as_str());
            table.push_str(&format!("{:<10} {:<20} {event:<9} {then:?}\n", format!("{trail:?}"), format!("{seen:?}")));
        }
    }
    expect![[r#"
        None       Landed               -         Stop
        None       Named(Open)          -         Propose
        None       Named(Closed)        -         Propose
        None       Named(Merged)        -         Propose
        None       Ensured(7, Opened)   opened    Stop
        None       Ensured(7, Found)    adopted   Stop
        None       Ensured(7, Updated)  adopted   Stop
        None       Ensured(8, Found)    adopted   Stop
        None       Ensured(8, Updated)  adopted   Stop
        Open(7)    Landed               merged    Stop
        Open(7)    Named(Open)          -         Propose
        Open(7)    Named(Closed)        closed    Decide
        Open(7)    Named(Merged)        -         Stop
        Open(7)    Ensured(7, Opened)   opened    Stop
        Open(7)    Ensured(7, Found)    -         Stop
        Open(7)    Ensured(7, Updated)  updated   Stop
        Open(7)    Ensured(8, Found)    adopted   Stop
        Open(7)    Ensured(8, Updated)  adopted   Stop
        Closed(7)  Landed               -         Stop
        Closed(7)  Named(Open)          reopened  Decide
        Closed(7)  Named(Closed)        -         Stop
        Closed(7)  Named(Merged)        -         Stop
        Closed(7)  Ensured(7, Opened)   opened    Stop
        Closed(7)  Ensured(7, Found)    adopted   Stop
        Closed(7)  Ensured(7, Updated)  adopted   Stop
        Closed(7)  Ensured(8, Found)    adopted   Stop
        Closed(7)  Ensured(8, Updated)  adopted   Stop
        Merged(7)  Landed               -         Stop
        Merged(7)  Named(Open)          -         Propose
        Merged(7)  Named(Closed)        -         Propose
        Merged(7)  Named(Merged)        -         Propose
        Merged(7)  Ensured(7, Opened)   opened    Stop
        Merged(7)  Ensured(7, Found)    adopted   Stop
        Merged(7)  Ensured(7, Updated)  adopted   Stop
        Merged(7)  Ensured(8, Found)    adopted   Stop
        Merged(7)  Ensured(8, Updated)  adopted   Stop
    "#]]
    .assert_eq(&table);
}
