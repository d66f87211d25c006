//! Alpine version order as apk-tools 2.x computed it with its classic tokenizer (up to 2.12; the 2.10 of Alpine
//! 3.10 ordered OSV's generated Alpine vectors).
//!
//! apk-tools 2.14 and 3 rewrote the tokenizer: it stops at the first token its stricter grammar rejects, while 2.x reads on
//! through forms such as a digit right after a letter (`6.6.2p1`), empty dot groups (`0..1`) or a bare `-r`. Valid
//! versions almost always sort the same under both (zero-padded groups differ: 2.x has `1.00 < 1.0`, 3 the
//! reverse); strings only 2.x can tell apart are ordered here. A port of 2.x's `get_token`/`next_token`, except
//! that numbers are 64-bit: 2.x read them into a C `int`, which overflowed on dates such as `_pre20191002222144`,
//! and every later apk-tools widened them.

use std::cmp::Ordering;

/// Token kinds in apk-tools 2.x order; `Invalid` sorts first there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Token {
    Invalid,
    DigitOrZero,
    Digit,
    Letter,
    Suffix,
    SuffixNo,
    RevisionNo,
    End,
}

const PRE_SUFFIXES: [&[u8]; 4] = [b"alpha", b"beta", b"pre", b"rc"];
const POST_SUFFIXES: [&[u8]; 5] = [b"cvs", b"svn", b"git", b"hg", b"p"];

/// Compares two Alpine versions the way apk-tools 2.x's `apk_version_compare` does.
pub fn compare(a: &str, b: &str) -> Ordering {
    let (mut a, mut b) = (a.as_bytes(), b.as_bytes());
    let (mut at, mut bt) = (Token::Digit, Token::Digit);
    let (mut av, mut bv) = (0i64, 0i64);
    while at == bt && at != Token::End && at != Token::Invalid && av == bv {
        av = get_token(&mut at, &mut a);
        bv = get_token(&mut bt, &mut b);
    }
    match av.cmp(&bv) {
        Ordering::Equal => {}
        order => return order,
    }
    if at == bt {
        return Ordering::Equal;
    }
    // Equal so far: the longer version is newer unless what it has next is a pre-release suffix.
    let (mut peek_a, mut peek_b) = (at, bt);
    if at == Token::Suffix && get_token(&mut peek_a, &mut a) < 0 {
        return Ordering::Less;
    }
    if bt == Token::Suffix && get_token(&mut peek_b, &mut b) < 0 {
        return Ordering::Greater;
    }
    bt.cmp(&at)
}

/// Reads the token of kind `*kind` at the front of `rest`, returns its value and sets `*kind` to the next kind.
fn get_token(kind: &mut Token, rest: &mut &[u8]) -> i64 {
    let Some(&first) = rest.first() else {
        *kind = Token::End;
        return 0;
    };
    // (value, bytes read, kind of the next token when it is known without looking)
    let (value, len, then) = match *kind {
        // Leading zeros count negatively, so `1.01 < 1.1` and `1.001 < 1.01`.
        Token::DigitOrZero if first == b'0' => {
            let zeros = rest.iter().take_while(|&&c| c == b'0').count();
            (-i64::try_from(zeros).unwrap_or(i64::MAX), zeros, Some(Token::Digit))
        }
        Token::DigitOrZero | Token::Digit | Token::SuffixNo | Token::RevisionNo => {
            let len = rest.iter().take_while(|c| c.is_ascii_digit()).count();
            let value = rest[..len].iter().fold(0i64, |v, &d| v.wrapping_mul(10).wrapping_add(i64::from(d - b'0')));
            (value, len, None)
        }
        Token::Letter => (i64::from(first), 1, None),
        Token::Suffix => match suffix(rest) {
            Some((value, len)) => (value, len, None),
            None => {
                *kind = Token::Invalid;
                return -1;
            }
        },
        Token::Invalid | Token::End => {
            *kind = Token::Invalid;
            return -1;
        }
    };
    *rest = &rest[len..];
    *kind = if rest.is_empty() {
        Token::End
    } else if let Some(next) = then {
        next
    } else {
        next_token(*kind, rest)
    };
    value
}

/// Matches a suffix name by prefix, as 2.x's `strncmp` does: pre-release ones are negative, post-release ones not.
fn suffix(rest: &[u8]) -> Option<(i64, usize)> {
    let pre = (-4..).zip(PRE_SUFFIXES);
    let post = (0..).zip(POST_SUFFIXES);
    pre.chain(post).find(|(_, name)| rest.starts_with(name)).map(|(value, name)| (value, name.len()))
}

/// The kind of the token starting at `rest`, consuming its separator; `Invalid` when it may not follow `kind`.
fn next_token(kind: Token, rest: &mut &[u8]) -> Token {
    let next = match rest.first() {
        None | Some(0) => Token::End,
        Some(&c) => next_kind(kind, c, rest),
    };
    let allowed_backwards = matches!(
        (next, kind),
        (Token::DigitOrZero, Token::Digit) | (Token::Suffix, Token::SuffixNo) | (Token::Digit, Token::Letter)
    );
    if next < kind && !allowed_backwards { Token::Invalid } else { next }
}

/// Classifies the byte `c` at the front of `rest` given the previous token's kind; separators are consumed.
fn next_kind(kind: Token, c: u8, rest: &mut &[u8]) -> Token {
    if matches!(kind, Token::Digit | Token::DigitOrZero) && c.is_ascii_lowercase() {
        Token::Letter
    } else if kind == Token::Letter && c.is_ascii_digit() {
        Token::Digit
    } else if kind == Token::Suffix && c.is_ascii_digit() {
        Token::SuffixNo
    } else {
        let next = match c {
            b'.' => Token::DigitOrZero,
            b'_' => Token::Suffix,
            b'-' if rest.get(1) == Some(&b'r') => {
                *rest = &rest[1..];
                Token::RevisionNo
            }
            _ => Token::Invalid,
        };
        *rest = &rest[1..];
        next
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_on_where_apk_tools_3_stops() {
        assert_eq!(compare("6.6.2p1", "6.6.2p2"), Ordering::Less);
        assert_eq!(compare("1-r", "1-r0"), Ordering::Equal);
        assert_eq!(compare("1.2.3-r0", "1.2.3-r1"), Ordering::Less);
        assert_eq!(compare("1.2.3_rc1", "1.2.3"), Ordering::Less);
        assert_eq!(compare("1.00", "1.0"), Ordering::Less);
        assert_eq!(super::super::compare("1.00", "1.0"), Ordering::Greater);
    }
}
