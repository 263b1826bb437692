//! Writing the two JSON documents built on every token request (the claims, the audit row)
//! straight into a buffer. Strings anyone else chose are escaped by serde_json; only values
//! whose alphabet keymint controls (numbers, UUIDs, key ids, scope names) are written as they
//! are. Measured: half the instructions of deriving `Serialize` (which escapes every byte of
//! every string and goes through the formatting machinery for UUIDs, addresses and scopes).

use std::net::IpAddr;

/// A JSON array or object being written, which knows whether a separator is due.
pub struct Writer<'a> {
    out: &'a mut Vec<u8>,
    first: bool,
}

impl<'a> Writer<'a> {
    pub fn object(out: &'a mut Vec<u8>) -> Self {
        out.push(b'{');
        Self { out, first: true }
    }

    pub fn array(out: &'a mut Vec<u8>) -> Self {
        out.push(b'[');
        Self { out, first: true }
    }

    fn separate(&mut self) {
        if !std::mem::replace(&mut self.first, false) {
            self.out.push(b',');
        }
    }

    /// `"name":` — names are keymint's own, plain ASCII.
    pub fn key(&mut self, name: &str) -> &mut Self {
        debug_assert!(is_plain(name), "{name:?}");
        self.separate();
        self.out.push(b'"');
        self.out.extend_from_slice(name.as_bytes());
        self.out.extend_from_slice(b"\":");
        // The value that follows needs no separator of its own.
        self.first = true;
        self
    }

    /// `"name":` for a name someone else chose, escaped.
    pub fn key_of(&mut self, name: &str) -> &mut Self {
        self.string(name);
        self.out.push(b':');
        self.first = true;
        self
    }

    /// Plain words joined by single spaces (a scope claim).
    pub fn words<'w>(&mut self, words: impl IntoIterator<Item = &'w str>) -> &mut Self {
        self.separate();
        self.out.push(b'"');
        for (i, word) in words.into_iter().enumerate() {
            debug_assert!(is_plain(word), "{word:?}");
            if i > 0 {
                self.out.push(b' ');
            }
            self.out.extend_from_slice(word.as_bytes());
        }
        self.out.push(b'"');
        self.first = false;
        self
    }

    /// Any string, escaped.
    pub fn string(&mut self, value: &str) -> &mut Self {
        self.separate();
        // Writing into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut *self.out, value);
        self.first = false;
        self
    }

    /// A string whose every character is one of keymint's plain ones (letters, digits,
    /// `-_.:/ `), written without the escaping pass.
    pub fn plain(&mut self, value: &str) -> &mut Self {
        if !is_plain(value) {
            return self.string(value);
        }
        self.separate();
        self.out.push(b'"');
        self.out.extend_from_slice(value.as_bytes());
        self.out.push(b'"');
        self.first = false;
        self
    }

    pub fn integer(&mut self, value: i64) -> &mut Self {
        self.separate();
        self.out
            .extend_from_slice(itoa::Buffer::new().format(value).as_bytes());
        self.first = false;
        self
    }

    pub fn null(&mut self) -> &mut Self {
        self.separate();
        self.out.extend_from_slice(b"null");
        self.first = false;
        self
    }

    pub fn uuid(&mut self, value: &uuid::Uuid) -> &mut Self {
        self.plain(value.hyphenated().encode_lower(&mut [0; 36]))
    }

    pub fn ip(&mut self, value: &IpAddr) -> &mut Self {
        match value {
            IpAddr::V4(v4) => {
                self.separate();
                self.out.push(b'"');
                let mut digits = itoa::Buffer::new();
                for (i, octet) in v4.octets().iter().enumerate() {
                    if i > 0 {
                        self.out.push(b'.');
                    }
                    self.out.extend_from_slice(digits.format(*octet).as_bytes());
                }
                self.out.push(b'"');
                self.first = false;
                self
            }
            IpAddr::V6(v6) => self.plain(&v6.to_string()),
        }
    }

    /// Anything else serde can write (a dialect's extra claims).
    pub fn value(&mut self, value: &impl serde::Serialize) -> &mut Self {
        self.separate();
        let _ = serde_json::to_writer(&mut *self.out, value);
        self.first = false;
        self
    }

    pub fn close_object(self) {
        self.out.push(b'}');
    }

    pub fn close_array(self) {
        self.out.push(b']');
    }
}

/// Needs no escaping in a JSON string. Checked without early exit, so it vectorises.
fn is_plain(text: &str) -> bool {
    text.bytes()
        .fold(true, |plain, b| plain & PLAIN[usize::from(b)])
}

const PLAIN: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        table[b] =
            c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.' | b':' | b'/' | b' ');
        b += 1;
    }
    table
};

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    fn written(build: impl FnOnce(&mut Writer<'_>)) -> Value {
        let mut out = Vec::new();
        let mut writer = Writer::object(&mut out);
        build(&mut writer);
        writer.close_object();
        serde_json::from_slice(&out).unwrap_or_else(|err| {
            panic!("{err}: {}", String::from_utf8_lossy(&out));
        })
    }

    #[test]
    fn what_is_written_reads_back_as_the_same_values() {
        let tricky = "quote \" backslash \\ newline \n nul \u{0} emoji 🦀 </script>";
        let uuid = uuid::Uuid::from_u128(0xfeed);
        let value = written(|w| {
            w.key("s").string(tricky);
            w.key("p").plain("calls:read agents:read");
            w.key("n").integer(-42);
            w.key("z").null();
            w.key("u").uuid(&uuid);
            w.key("v4").ip(&"192.168.0.255".parse().unwrap());
            w.key("v6").ip(&"2001:db8::1".parse().unwrap());
            w.key("x").value(&json!({"nested": [1, "two"]}));
            w.key_of("odd \"key\"").words(["calls:read", "agents:read"]);
        });
        assert_eq!(
            value,
            json!({
                "s": tricky,
                "p": "calls:read agents:read",
                "n": -42,
                "z": null,
                "u": uuid.to_string(),
                "v4": "192.168.0.255",
                "v6": "2001:db8::1",
                "x": {"nested": [1, "two"]},
                "odd \"key\"": "calls:read agents:read",
            })
        );
    }

    #[test]
    fn a_string_passed_as_plain_that_is_not_is_escaped_anyway() {
        let value = written(|w| {
            w.key("p").plain("not \"plain\"");
        });
        assert_eq!(value, json!({"p": "not \"plain\""}));
    }

    #[test]
    fn arrays_separate_their_elements() {
        let mut out = Vec::new();
        let mut writer = Writer::array(&mut out);
        writer.integer(1).null().plain("a");
        writer.close_array();
        assert_eq!(out, br#"[1,null,"a"]"#);
    }
}
