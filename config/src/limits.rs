//! Bounds checked before the YAML reader sees a file: its size, and how
//! deeply it nests flow collections (`[[[...]]]`), which the reader handles
//! in time quadratic in the depth (measured: 10 000 levels took 0.4 s,
//! 100 000 took 45 s).

/// The largest config read: 16 MiB. A big ISP's file with 100 000 subscriber
/// prefixes is about 2.5 MB; anything far beyond is not a config.
pub(crate) const MAX_BYTES: usize = 16 << 20;

/// The deepest nesting of flow collections allowed. The config's own shape
/// nests five levels; the YAML reader refuses 128 anyway, after having paid
/// for them.
pub(crate) const MAX_DEPTH: usize = 32;

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    Plain,
    Single,
    Double,
    Comment,
}

/// Where flow nesting first goes deeper than `max` (line and column from 1),
/// found in one pass over the text. Brackets in quoted strings and comments
/// do not count; a bracket in an unquoted block scalar does, which can only
/// make a config of 32 brackets in one value be refused, never a deep one
/// pass.
pub(crate) fn too_deep(src: &str, max: usize) -> Option<(usize, usize)> {
    let mut state = State::Plain;
    let (mut line, mut column) = (1, 0);
    let mut depth = 0usize;
    // The last character on this line that is not a space, outside strings,
    // and whether a space came after it.
    let mut before: Option<char> = None;
    let mut after_space = false;
    let mut chars = src.chars().peekable();
    while let Some(c) = chars.next() {
        column += 1;
        if c == '\n' {
            line += 1;
            column = 0;
            before = None;
            after_space = false;
            if state == State::Comment {
                state = State::Plain;
            }
            continue;
        }
        match state {
            State::Comment => {}
            State::Double => match c {
                '\\' if chars.peek().is_some_and(|n| *n != '\n') => {
                    chars.next();
                    column += 1;
                }
                '"' => state = State::Plain,
                _ => {}
            },
            State::Single => {
                if c == '\'' {
                    if chars.peek() == Some(&'\'') {
                        chars.next();
                        column += 1;
                    } else {
                        state = State::Plain;
                    }
                }
            }
            State::Plain => {
                let starts_value = matches!(before, None | Some(':' | '-' | '[' | '{' | ',' | '?'));
                match c {
                    '#' if before.is_none() || after_space => {
                        state = State::Comment;
                    }
                    '"' if starts_value => state = State::Double,
                    '\'' if starts_value => state = State::Single,
                    '[' | '{' => {
                        depth += 1;
                        if depth > max {
                            return Some((line, column));
                        }
                    }
                    ']' | '}' => depth = depth.saturating_sub(1),
                    _ => {}
                }
                after_space = c.is_whitespace();
                if !after_space {
                    before = Some(c);
                }
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_flow_nesting_outside_strings_and_comments() {
        assert_eq!(too_deep("a: [[1], {b: [2]}]\n", 3), None);
        assert_eq!(too_deep("a: [[[[1]]]]\n", 3), Some((1, 7)));
        assert_eq!(too_deep("a:\n  - x\n  - [[[[1]]]]\n", 3), Some((3, 8)));
        assert_eq!(too_deep("a: \"[[[[\" # [[[[\nb: '[[[['\n", 3), None);
        assert_eq!(too_deep("a: 'it''s [[[['\n", 3), None);
        assert_eq!(too_deep("a: \"\\\"[[[[\"\n", 3), None);
        // An apostrophe inside a plain scalar opens no string.
        assert_eq!(too_deep("a: don't [[[[1]]]]\n", 3), Some((1, 13)));
        assert_eq!(too_deep("a: x#y [[[[1]]]]\n", 3), Some((1, 11)));
    }

    #[test]
    fn is_linear_in_depth() {
        let deep = format!("a: {}{}\n", "[".repeat(1_000_000), "]".repeat(1_000_000));
        assert_eq!(too_deep(&deep, MAX_DEPTH), Some((1, 4 + MAX_DEPTH)));
    }
}
