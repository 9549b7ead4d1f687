//! SCIM filters (RFC 7644 §3.4.2.2), parsed into a tree. Untrusted input from a tenant's IdP: the
//! parser is bounded in length and nesting, never panics, and reports RFC 7644's `invalidFilter`.
//!
//! ```text
//! FILTER    = attrExp / logExp / valuePath / *1"not" "(" FILTER ")"
//! valuePath = attrPath "[" valFilter "]"
//! attrExp   = (attrPath SP "pr") / (attrPath SP compareOp SP compValue)
//! logExp    = FILTER SP ("and" / "or") SP FILTER        ; "and" binds tighter than "or"
//! compValue = false / null / true / number / string     ; JSON literals
//! attrPath  = [URI ":"] ATTRNAME *1subAttr
//! ```
//!
//! Operators and attribute names are case-insensitive.

use std::fmt;

/// The longest filter accepted, in bytes.
pub const MAX_FILTER_BYTES: usize = 4096;
/// The deepest nesting of parentheses, `not` and value paths accepted.
pub const MAX_DEPTH: usize = 16;
/// The most comparisons one filter may hold: enough for any IdP's query, and few enough that its
/// SQL stays within D1's 100 bound parameters and SQLite's parser stack.
pub const MAX_COMPARISONS: usize = 30;

/// An attribute path: an optional schema URN, a name and an optional sub-attribute, with the
/// names lower-cased (SCIM attribute names are case-insensitive).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttrPath {
    /// The schema URN, when the path is fully qualified.
    pub schema: Option<String>,
    /// The attribute, lower-cased.
    pub name: String,
    /// The sub-attribute, lower-cased.
    pub sub: Option<String>,
}

impl fmt::Display for AttrPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(schema) = &self.schema {
            write!(f, "{schema}:")?;
        }
        f.write_str(&self.name)?;
        if let Some(sub) = &self.sub {
            write!(f, ".{sub}")?;
        }
        Ok(())
    }
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareOp {
    /// Equal.
    Eq,
    /// Not equal.
    Ne,
    /// Contains.
    Co,
    /// Starts with.
    Sw,
    /// Ends with.
    Ew,
    /// Greater than.
    Gt,
    /// Greater than or equal.
    Ge,
    /// Less than.
    Lt,
    /// Less than or equal.
    Le,
}

/// A literal to compare with.
#[derive(Debug, Clone, PartialEq)]
pub enum CompValue {
    /// A string.
    Str(String),
    /// A number.
    Number(f64),
    /// A boolean.
    Bool(bool),
    /// `null`.
    Null,
}

/// A parsed filter.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    /// `attrPath op value`.
    Compare(AttrPath, CompareOp, CompValue),
    /// `attrPath pr`.
    Present(AttrPath),
    /// Both.
    And(Box<Filter>, Box<Filter>),
    /// Either.
    Or(Box<Filter>, Box<Filter>),
    /// Not.
    Not(Box<Filter>),
    /// `attrPath[filter]`: some value of a multi-valued attribute matches the inner filter, whose
    /// paths are relative to it.
    ValuePath(AttrPath, Box<Filter>),
}

/// Why a filter was refused (RFC 7644 §3.12 `invalidFilter`); the message is safe to show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilterError(pub String);

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Word(String),
    Str(String),
    Number(f64),
    Open,
    Close,
    OpenBracket,
    CloseBracket,
}

fn tokens(text: &str) -> Result<Vec<Token>, FilterError> {
    let bad = |message: &str| Err(FilterError(message.to_owned()));
    let mut out = Vec::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b' ' | b'\t' => i += 1,
            b'(' => {
                out.push(Token::Open);
                i += 1;
            }
            b')' => {
                out.push(Token::Close);
                i += 1;
            }
            b'[' => {
                out.push(Token::OpenBracket);
                i += 1;
            }
            b']' => {
                out.push(Token::CloseBracket);
                i += 1;
            }
            b'"' => {
                // A JSON string: find its end, honouring escapes, and let serde_json decode it.
                let start = i;
                i += 1;
                loop {
                    match bytes.get(i) {
                        None => return bad("an unterminated string"),
                        Some(b'\\') => i += 2,
                        Some(b'"') => break,
                        Some(_) => i += 1,
                    }
                }
                i += 1;
                let literal = text.get(start..i).ok_or_else(|| FilterError("a malformed string".into()))?;
                match serde_json::from_str::<String>(literal) {
                    Ok(value) => out.push(Token::Str(value)),
                    Err(_) => return bad("a malformed string"),
                }
            }
            b'-' | b'0'..=b'9' => {
                let start = i;
                while i < bytes.len() && matches!(bytes[i], b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9') {
                    i += 1;
                }
                match text[start..i].parse::<f64>() {
                    Ok(number) if number.is_finite() => out.push(Token::Number(number)),
                    _ => return bad("a malformed number"),
                }
            }
            byte if byte.is_ascii_alphabetic() => {
                let start = i;
                while i < bytes.len()
                    && matches!(bytes[i], b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'_' | b'-' | b'.' | b':' | b'$')
                {
                    i += 1;
                }
                out.push(Token::Word(text[start..i].to_owned()));
            }
            _ => return bad("an unexpected character"),
        }
    }
    Ok(out)
}

fn attr_name_ok(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '$')
}

/// Parses an attribute path (`name`, `name.sub`, or either after a schema URN and `:`).
pub fn attr_path(word: &str) -> Result<AttrPath, FilterError> {
    let invalid = || FilterError(format!("{:?} is not an attribute path", truncated(word)));
    // A fully qualified path: the URN is everything up to the last ':'.
    let (schema, rest) = match word.rfind(':') {
        Some(at) if word[..at].to_ascii_lowercase().starts_with("urn:") => {
            (Some(word[..at].to_owned()), &word[at + 1..])
        }
        Some(_) => return Err(invalid()),
        None => (None, word),
    };
    let (name, sub) = match rest.split_once('.') {
        Some((name, sub)) => (name, Some(sub)),
        None => (rest, None),
    };
    if !attr_name_ok(name) || sub.is_some_and(|s| !attr_name_ok(s)) {
        return Err(invalid());
    }
    Ok(AttrPath { schema, name: name.to_ascii_lowercase(), sub: sub.map(str::to_ascii_lowercase) })
}

fn truncated(text: &str) -> String {
    text.chars().take(40).collect()
}

struct Parser {
    tokens: Vec<Token>,
    at: usize,
    comparisons: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at)
    }

    fn next(&mut self) -> Option<Token> {
        let token = self.tokens.get(self.at).cloned();
        self.at += 1;
        token
    }

    fn keyword(&self, word: &str) -> bool {
        matches!(self.peek(), Some(Token::Word(w)) if w.eq_ignore_ascii_case(word))
    }

    fn or(&mut self, depth: usize) -> Result<Filter, FilterError> {
        let mut left = self.and(depth)?;
        while self.keyword("or") {
            self.at += 1;
            left = Filter::Or(Box::new(left), Box::new(self.and(depth)?));
        }
        Ok(left)
    }

    fn and(&mut self, depth: usize) -> Result<Filter, FilterError> {
        let mut left = self.unary(depth)?;
        while self.keyword("and") {
            self.at += 1;
            left = Filter::And(Box::new(left), Box::new(self.unary(depth)?));
        }
        Ok(left)
    }

    fn nested(&mut self, depth: usize) -> Result<Filter, FilterError> {
        if depth >= MAX_DEPTH {
            return Err(FilterError(format!("nested deeper than {MAX_DEPTH}")));
        }
        let inner = self.or(depth + 1)?;
        match self.next() {
            Some(Token::Close) => Ok(inner),
            _ => Err(FilterError("a '(' without its ')'".into())),
        }
    }

    fn unary(&mut self, depth: usize) -> Result<Filter, FilterError> {
        if self.keyword("not") && self.tokens.get(self.at + 1) == Some(&Token::Open) {
            self.at += 2;
            return Ok(Filter::Not(Box::new(self.nested(depth)?)));
        }
        match self.next() {
            Some(Token::Open) => self.nested(depth),
            Some(Token::Word(word)) => {
                let path = attr_path(&word)?;
                if self.peek() == Some(&Token::OpenBracket) {
                    self.at += 1;
                    if depth >= MAX_DEPTH {
                        return Err(FilterError(format!("nested deeper than {MAX_DEPTH}")));
                    }
                    let inner = self.or(depth + 1)?;
                    if self.next() != Some(Token::CloseBracket) {
                        return Err(FilterError("a '[' without its ']'".into()));
                    }
                    if path.sub.is_some() {
                        return Err(FilterError("a value path names an attribute, not a sub-attribute".into()));
                    }
                    return Ok(Filter::ValuePath(path, Box::new(inner)));
                }
                self.comparison(path)
            }
            Some(_) => Err(FilterError("expected an attribute path".into())),
            None => Err(FilterError("the filter ends too early".into())),
        }
    }

    fn comparison(&mut self, path: AttrPath) -> Result<Filter, FilterError> {
        self.comparisons += 1;
        if self.comparisons > MAX_COMPARISONS {
            return Err(FilterError(format!("more than {MAX_COMPARISONS} comparisons")));
        }
        let Some(Token::Word(op)) = self.next() else {
            return Err(FilterError(format!("expected an operator after {path}")));
        };
        let op = match op.to_ascii_lowercase().as_str() {
            "pr" => return Ok(Filter::Present(path)),
            "eq" => CompareOp::Eq,
            "ne" => CompareOp::Ne,
            "co" => CompareOp::Co,
            "sw" => CompareOp::Sw,
            "ew" => CompareOp::Ew,
            "gt" => CompareOp::Gt,
            "ge" => CompareOp::Ge,
            "lt" => CompareOp::Lt,
            "le" => CompareOp::Le,
            other => return Err(FilterError(format!("{:?} is not an operator", truncated(other)))),
        };
        let value = match self.next() {
            Some(Token::Str(text)) => CompValue::Str(text),
            Some(Token::Number(number)) => CompValue::Number(number),
            Some(Token::Word(word)) if word.eq_ignore_ascii_case("true") => CompValue::Bool(true),
            Some(Token::Word(word)) if word.eq_ignore_ascii_case("false") => CompValue::Bool(false),
            Some(Token::Word(word)) if word.eq_ignore_ascii_case("null") => CompValue::Null,
            _ => return Err(FilterError(format!("expected a value after {path}"))),
        };
        Ok(Filter::Compare(path, op, value))
    }
}

/// Parses a filter.
pub fn parse(text: &str) -> Result<Filter, FilterError> {
    if text.len() > MAX_FILTER_BYTES {
        return Err(FilterError(format!("longer than {MAX_FILTER_BYTES} bytes")));
    }
    let mut parser = Parser { tokens: tokens(text)?, at: 0, comparisons: 0 };
    let filter = parser.or(0)?;
    if parser.at != parser.tokens.len() {
        return Err(FilterError("unexpected text after the filter".into()));
    }
    Ok(filter)
}

#[cfg(test)]
mod tests;
