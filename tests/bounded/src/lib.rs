//! Dev-only: runs a parser of outside input under a bound on time and
//! memory, and makes the inputs for that from arbitrary bytes and from
//! mutations of real samples.
//!
//! Every property test of a parser (the config loader, the report feeds,
//! the portal's requests, the socket frames, NFLOG packets) links this crate
//! and so gets its counting global allocator ([`cap::Cap`] around the system
//! allocator; the workspace forbids `unsafe`, and a `GlobalAlloc` cannot be
//! written without it). [`within`] runs one parse:
//!
//! - **memory**: for the duration of the parse, the allocator's limit is set
//!   to what is allocated now plus [`Bounds::memory`]; an allocation past it
//!   fails, and Rust aborts the test binary with "memory allocation of N
//!   bytes failed" (an allocation failure cannot be caught; the abort is the
//!   failure). `cap` keeps no resettable peak, hence a limit and not a
//!   measurement. Parses are serialised by a lock so that the budget is the
//!   parse's own, not the sum of the tests running beside it.
//! - **time**: the parse is timed with [`Instant`] and must end within
//!   [`Bounds::time`] (a panic that proptest then shrinks); a parse that
//!   never returns is caught by a watchdog thread that aborts the binary
//!   after [`Bounds::hang`], naming the input, so a hang fails instead of
//!   stalling the suite.
//!
//! The bounds catch hangs, quadratic blow-ups and allocations sized by a
//! number in the input, not slowness: they are generous, for debug builds on
//! a busy machine.

#![forbid(unsafe_code)]

use std::alloc::System;
use std::io::Write;
use std::sync::Arc;
use std::sync::mpsc::{RecvTimeoutError, channel};
use std::time::{Duration, Instant};

use cap::Cap;
use parking_lot::Mutex;
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::Config;

#[global_allocator]
static ALLOCATOR: Cap<System> = Cap::new(System, usize::MAX);

/// One parse at a time in a test binary (see the crate docs). A std lock,
/// not `parking_lot` as elsewhere: a thread that waits on a `parking_lot`
/// lock may allocate (its parking slot, the global wait table), and that
/// would be charged to the parse being measured.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// What one parse may cost.
#[derive(Debug, Clone, Copy)]
pub struct Bounds {
    /// Longest a parse may take before the test fails.
    pub time: Duration,
    /// Longest a parse may run before the watchdog aborts the binary.
    pub hang: Duration,
    /// Most bytes a parse may hold allocated at once, above what was
    /// allocated before it started.
    pub memory: usize,
}

/// The bounds for a parser of input up to a few hundred kilobytes: 2 s (in
/// debug, with other builds on the same two cores; a parse takes
/// milliseconds), 64 MiB.
pub const PARSER: Bounds = Bounds {
    time: Duration::from_secs(2),
    hang: Duration::from_secs(30),
    memory: 64 << 20,
};

/// Test input: bytes that print as an escaped byte string when a case
/// fails, not as a list of numbers.
#[derive(Clone, PartialEq, Eq)]
pub struct Input(pub Vec<u8>);

impl std::fmt::Debug for Input {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Input({} bytes: b\"{}\")",
            self.0.len(),
            Excerpt(&self.0)
        )
    }
}

/// The start and the end of a long input, escaped: enough to see what it
/// is; the case itself is in the proptest regressions file.
struct Excerpt<'a>(&'a [u8]);

impl std::fmt::Display for Excerpt<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        const HEAD: usize = 400;
        const TAIL: usize = 200;
        let b = self.0;
        if b.len() <= HEAD + TAIL {
            return write!(f, "{}", b.escape_ascii());
        }
        write!(
            f,
            "{}\" ... {} bytes ... b\"{}",
            b[..HEAD].escape_ascii(),
            b.len() - HEAD - TAIL,
            b[b.len() - TAIL..].escape_ascii()
        )
    }
}

impl std::ops::Deref for Input {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.0
    }
}

/// Puts the allocator's limit back when the parse ends, panicking or not.
struct Unlimit;

impl Drop for Unlimit {
    fn drop(&mut self) {
        // Raising the limit cannot fail.
        let _ = ALLOCATOR.set_limit(usize::MAX);
    }
}

/// Runs `parse` (of `input`, named `what` in failures) under `bounds`, and
/// returns what it returned. Panics when it took too long; aborts the
/// process when it allocated too much or hung (see the crate docs).
pub fn within<T>(what: &str, input: &[u8], bounds: Bounds, parse: impl FnOnce() -> T) -> T {
    // A parking_lot lock: a bound that panicked (as it should) does not
    // poison it for the next input.
    let _one = ONE_AT_A_TIME.lock();
    let (done, watched) = channel::<()>();
    let label = format!(
        "{what}: input of {} bytes: b\"{}\"",
        input.len(),
        Excerpt(input)
    );
    let hang = bounds.hang;
    let watchdog = std::thread::spawn(move || {
        if watched.recv_timeout(hang) == Err(RecvTimeoutError::Timeout) {
            // Straight to the process's stderr: the test harness captures
            // `eprintln!`, and would lose it in the abort.
            let _ = writeln!(
                std::io::stderr(),
                "{label}: still parsing after {hang:?}: a hang; aborting"
            );
            std::process::abort();
        }
    });
    let unlimit = Unlimit;
    let budget = ALLOCATOR.allocated().saturating_add(bounds.memory);
    if ALLOCATOR.set_limit(budget).is_err() {
        panic!("cannot set the allocation limit to {budget} bytes");
    }
    let started = Instant::now();
    let out = parse();
    let took = started.elapsed();
    drop(unlimit);
    let _ = done.send(());
    if watchdog.join().is_err() {
        panic!("the watchdog thread panicked");
    }
    assert!(
        took < bounds.time,
        "{what} took {took:?} (bound {:?}) on an input of {} bytes",
        bounds.time,
        input.len()
    );
    out
}

/// Proptest settings for these tests: `cases` cases (or `PROPTEST_CASES`
/// when set, for a longer hunt: `PROPTEST_CASES=20000 cargo test --test
/// fuzz_props`), shrinking bounded so a failure is reported in seconds.
pub fn cases(cases: u32) -> Config {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(cases);
    Config {
        cases,
        max_shrink_time: 30_000,
        ..Config::default()
    }
}

/// Bytes that make parsers take another branch: separators, quotes,
/// escapes, line ends, brackets, and the bytes at the ends of ranges.
const TELLING: &[u8] = b"\0\x01\x7f\x80\xff\t\r\n :,;=&%+#\"'\\-[]{}<>|*!@/.?";

fn telling_byte() -> impl Strategy<Value = u8> {
    prop_oneof![any::<u8>(), proptest::sample::select(TELLING)]
}

/// Arbitrary bytes, up to `max` of them: a length and a seed, expanded by
/// a small generator (a value tree per byte would make a 64 KiB input cost
/// more to generate than to parse; shrinking still shortens it).
pub fn arbitrary(max: usize) -> impl Strategy<Value = Input> {
    (0..=max, any::<u64>()).prop_map(|(len, seed)| {
        // xorshift64*: fast, and any seed but 0 cycles through all states.
        let mut state = seed | 1;
        let bytes = (0..len)
            .map(|_| {
                state ^= state >> 12;
                state ^= state << 25;
                state ^= state >> 27;
                let r = state.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes();
                // One byte in four from the telling ones.
                if r[0] < 64 {
                    TELLING[usize::from(r[1]) % TELLING.len()]
                } else {
                    r[2]
                }
            })
            .collect();
        Input(bytes)
    })
}

/// One change to a sample.
#[derive(Debug, Clone)]
enum Mutation {
    /// Flip one bit.
    Flip(Index, u8),
    /// Insert a few bytes.
    Insert(Index, Vec<u8>),
    /// Delete a run of bytes.
    Delete(Index, usize),
    /// Cut everything from here on.
    Truncate(Index),
    /// Insert a piece of a sample (this one or another).
    Splice(Index, Index, Index, usize),
    /// Repeat a line a few times in place.
    DuplicateLine(Index, usize),
    /// Remove a line.
    DeleteLine(Index),
    /// Swap two lines.
    SwapLines(Index, Index),
    /// Repeat a run of bytes many times (to find quadratic parses).
    Repeat(Index, usize, usize),
    /// Insert a few telling bytes many times over (deep nesting, long
    /// runs of separators).
    Flood(Index, Vec<u8>, usize),
    /// The same, at the start of a value: after the first separator
    /// (`:`, `,`, `=`, `[`, `{`) of a line and the blanks after it.
    FloodValue(Index, Vec<u8>, usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        3 => (any::<Index>(), 0u8..8).prop_map(|(i, b)| Mutation::Flip(i, b)),
        3 => (any::<Index>(), proptest::collection::vec(telling_byte(), 1..16))
            .prop_map(|(i, v)| Mutation::Insert(i, v)),
        2 => (any::<Index>(), 1usize..64).prop_map(|(i, n)| Mutation::Delete(i, n)),
        1 => any::<Index>().prop_map(Mutation::Truncate),
        2 => (any::<Index>(), any::<Index>(), any::<Index>(), 0usize..512)
            .prop_map(|(at, from, start, n)| Mutation::Splice(at, from, start, n)),
        2 => (any::<Index>(), 1usize..8).prop_map(|(i, n)| Mutation::DuplicateLine(i, n)),
        1 => any::<Index>().prop_map(Mutation::DeleteLine),
        1 => (any::<Index>(), any::<Index>()).prop_map(|(a, b)| Mutation::SwapLines(a, b)),
        1 => (any::<Index>(), 1usize..64, 2usize..(1 << 17))
            .prop_map(|(i, n, k)| Mutation::Repeat(i, n, k)),
        1 => (any::<Index>(), proptest::collection::vec(telling_byte(), 1..4), 2usize..(1 << 17))
            .prop_map(|(i, v, k)| Mutation::Flood(i, v, k)),
        1 => (any::<Index>(), proptest::collection::vec(telling_byte(), 1..4), 2usize..(1 << 17))
            .prop_map(|(i, v, k)| Mutation::FloodValue(i, v, k)),
    ]
}

/// A position in `0..=len` (insertions may go at the end).
fn at(i: &Index, len: usize) -> usize {
    i.index(len + 1)
}

/// Byte ranges of the lines of `data`, each with its `\n`.
fn lines(data: &[u8]) -> Vec<std::ops::Range<usize>> {
    let mut out = Vec::new();
    let mut start = 0;
    for piece in data.split_inclusive(|&b| b == b'\n') {
        out.push(start..start + piece.len());
        start += piece.len();
    }
    out
}

fn apply(data: &mut Vec<u8>, m: &Mutation, samples: &[Vec<u8>], max: usize) {
    let len = data.len();
    match m {
        Mutation::Flip(i, bit) => {
            if len > 0 {
                data[i.index(len)] ^= 1 << bit;
            }
        }
        Mutation::Insert(i, bytes) => {
            let p = at(i, len);
            data.splice(p..p, bytes.iter().copied());
        }
        Mutation::Delete(i, n) => {
            let p = at(i, len);
            data.drain(p..(p + n).min(len));
        }
        Mutation::Truncate(i) => data.truncate(at(i, len)),
        Mutation::Splice(i, from, start, n) => {
            let Some(other) = (!samples.is_empty()).then(|| &samples[from.index(samples.len())])
            else {
                return;
            };
            let s = at(start, other.len());
            let piece = other[s..(s + n).min(other.len())].to_vec();
            let p = at(i, len);
            data.splice(p..p, piece);
        }
        Mutation::DuplicateLine(i, times) => {
            let ls = lines(data);
            if ls.is_empty() {
                return;
            }
            let r = ls[i.index(ls.len())].clone();
            let line = data[r.clone()].to_vec();
            let copies: Vec<u8> = line.repeat(*times);
            data.splice(r.end..r.end, copies);
        }
        Mutation::DeleteLine(i) => {
            let ls = lines(data);
            if !ls.is_empty() {
                data.drain(ls[i.index(ls.len())].clone());
            }
        }
        Mutation::SwapLines(a, b) => {
            let ls = lines(data);
            if ls.is_empty() {
                return;
            }
            let (mut x, mut y) = (ls[a.index(ls.len())].clone(), ls[b.index(ls.len())].clone());
            if x.start > y.start {
                std::mem::swap(&mut x, &mut y);
            }
            if x == y {
                return;
            }
            let mut out = Vec::with_capacity(len);
            out.extend_from_slice(&data[..x.start]);
            out.extend_from_slice(&data[y.clone()]);
            out.extend_from_slice(&data[x.end..y.start]);
            out.extend_from_slice(&data[x.clone()]);
            out.extend_from_slice(&data[y.end..]);
            *data = out;
        }
        Mutation::Repeat(i, n, times) => {
            let p = at(i, len);
            let run = data[p..(p + n).min(len)].to_vec();
            if run.is_empty() {
                return;
            }
            let times = (*times).min(max.saturating_sub(len) / run.len());
            data.splice(p..p, run.repeat(times));
        }
        Mutation::Flood(i, run, times) => flood(data, at(i, len), run, *times, max),
        Mutation::FloodValue(i, run, times) => {
            let ls = lines(data);
            if ls.is_empty() {
                return flood(data, 0, run, *times, max);
            }
            let line = ls[i.index(ls.len())].clone();
            let value = data[line.clone()]
                .iter()
                .position(|b| b":,=[{".contains(b))
                .map_or(line.start, |sep| {
                    let after = line.start + sep + 1;
                    after
                        + data[after..line.end]
                            .iter()
                            .take_while(|&&b| b == b' ' || b == b'\t')
                            .count()
                });
            flood(data, value, run, *times, max);
        }
    }
    data.truncate(max);
}

/// Inserts `run` at `p` as many times as fit under `max`, up to `times`.
fn flood(data: &mut Vec<u8>, p: usize, run: &[u8], times: usize, max: usize) {
    let times = times.min(max.saturating_sub(data.len()) / run.len().max(1));
    data.splice(p..p, run.repeat(times));
}

/// A real sample with up to eight mutations, at most `max` bytes.
pub fn mutated(samples: Vec<Vec<u8>>, max: usize) -> impl Strategy<Value = Input> {
    let samples = Arc::new(samples);
    let count = samples.len();
    (
        0..count.max(1),
        // Sometimes none: the sample itself, beside mutated other inputs.
        proptest::collection::vec(mutation(), 0..=8),
    )
        .prop_map(move |(which, ms)| {
            let mut data = samples.get(which).cloned().unwrap_or_default();
            for m in &ms {
                apply(&mut data, m, &samples, max);
            }
            Input(data)
        })
}

/// What a parser of outside input is fed: arbitrary bytes (a quarter) and
/// mutated samples (the rest), at most `max` bytes.
pub fn inputs(samples: Vec<Vec<u8>>, max: usize) -> impl Strategy<Value = Input> {
    prop_oneof![
        1 => arbitrary(max.min(64 << 10)),
        3 => mutated(samples, max),
    ]
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_parse_over_its_time_fails() {
        let slow = Bounds {
            time: Duration::from_millis(1),
            ..PARSER
        };
        let r = std::panic::catch_unwind(|| {
            within("sleeper", b"", slow, || {
                std::thread::sleep(Duration::from_millis(20));
            })
        });
        assert!(r.is_err());
    }

    #[test]
    fn an_allocation_over_the_budget_is_refused() {
        // `try_reserve` sees the allocator's refusal that `Vec::with_capacity`
        // would turn into an abort.
        let small = Bounds {
            memory: 1 << 20,
            ..PARSER
        };
        let refused = within("hog", b"", small, || {
            let mut v: Vec<u8> = Vec::new();
            v.try_reserve(2 << 20).is_err()
        });
        assert!(refused, "2 MiB were allocated under a 1 MiB budget");
        let mut v: Vec<u8> = Vec::new();
        assert!(v.try_reserve(2 << 20).is_ok(), "the limit was not lifted");
    }

    proptest! {
        #![proptest_config(cases(64))]
        #[test]
        fn mutations_stay_under_the_cap(input in mutated(vec![b"a: 1\nb: 2\n".to_vec(), vec![]], 4096)) {
            prop_assert!(input.len() <= 4096);
        }
    }
}
