use super::{ProbabilityAccumulator, ece_bin};

#[test]
fn bins_follow_searchsorted_left() {
    assert_eq!(ece_bin(0.0, 10), 0);
    assert_eq!(ece_bin(0.1, 10), 0);
    assert_eq!(ece_bin(0.10000000000000002, 10), 1);
    // 3 * 0.1 is 0.30000000000000004 in binary, so 0.3 itself lies below that edge.
    assert_eq!(ece_bin(0.3, 10), 2);
    assert_eq!(ece_bin(0.30000000000000004, 10), 2);
    assert_eq!(ece_bin(1.0, 10), 9);
    assert_eq!(ece_bin(0.95, 10), 9);
}

#[test]
fn log_loss_clips_certain_mistakes() {
    let mut acc = ProbabilityAccumulator::new(10);
    acc.add(true, 0.0, 1.0);
    assert!((acc.log_loss() - -(f64::EPSILON.ln())).abs() < 1e-12);
    acc.add(false, 0.0, 1.0);
    assert!(acc.log_loss().is_finite());
}

#[test]
fn sklearn_log_loss_example() {
    // log_loss(["spam", "ham", "ham", "spam"], [.9, .1, .2, .65]) == 0.21616...
    let mut acc = ProbabilityAccumulator::new(10);
    for (y, p) in [(true, 0.9), (false, 0.1), (false, 0.2), (true, 0.65)] {
        acc.add(y, p, 1.0);
    }
    assert!((acc.log_loss() - 0.21616187468057912).abs() < 1e-15);
    assert!((acc.brier_score() - (0.01 + 0.01 + 0.04 + 0.1225) / 4.0).abs() < 1e-15);
}

#[test]
fn ece_of_perfect_calibration_is_zero() {
    let mut acc = ProbabilityAccumulator::new(10);
    acc.add(true, 0.5, 1.0);
    acc.add(false, 0.5, 1.0);
    assert_eq!(acc.expected_calibration_error(), 0.0);
}
