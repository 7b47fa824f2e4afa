//! The messages of pprof's `profile.proto` that gcviz reads, and decoding a
//! gzipped profile into them.
//!
//! In: the bytes a `net/http/pprof` endpoint answered (gzipped protobuf, or
//! plain protobuf). Out: a [`Profile`], or a [`DecodeError`] that says in a
//! sentence what was wrong. Never panics on any input, never inflates more
//! than [`MAX_INFLATED`] bytes, touches no I/O.
//!
//! The structs are written by hand from `proto/profile.proto` of
//! github.com/google/pprof (field numbers as there); prost does the wire
//! format. Fields gcviz does not use (mappings, labels, comments) are left
//! out: protobuf skips unknown fields.

use std::io::Read;

use prost::Message;

/// The most a profile may inflate to: a heap profile of a large service is
/// a few MiB; anything past this is not worth holding (or is a gzip bomb).
pub const MAX_INFLATED: u64 = 256 << 20;

#[derive(Clone, PartialEq, Message)]
pub struct Profile {
    #[prost(message, repeated, tag = "1")]
    pub sample_type: Vec<ValueType>,
    #[prost(message, repeated, tag = "2")]
    pub sample: Vec<Sample>,
    #[prost(message, repeated, tag = "4")]
    pub location: Vec<Location>,
    #[prost(message, repeated, tag = "5")]
    pub function: Vec<Function>,
    #[prost(string, repeated, tag = "6")]
    pub string_table: Vec<String>,
    #[prost(int64, tag = "9")]
    pub time_nanos: i64,
    #[prost(int64, tag = "10")]
    pub duration_nanos: i64,
    #[prost(message, optional, tag = "11")]
    pub period_type: Option<ValueType>,
    #[prost(int64, tag = "12")]
    pub period: i64,
}

#[derive(Clone, PartialEq, Message)]
pub struct ValueType {
    /// Index into the string table.
    #[prost(int64, tag = "1")]
    pub r#type: i64,
    /// Index into the string table.
    #[prost(int64, tag = "2")]
    pub unit: i64,
}

#[derive(Clone, PartialEq, Message)]
pub struct Sample {
    /// Leaf first: `location_id[0]` is where the allocation happened.
    #[prost(uint64, repeated, tag = "1")]
    pub location_id: Vec<u64>,
    #[prost(int64, repeated, tag = "2")]
    pub value: Vec<i64>,
}

#[derive(Clone, PartialEq, Message)]
pub struct Location {
    #[prost(uint64, tag = "1")]
    pub id: u64,
    /// Several lines: inlined calls, the last one the caller the others
    /// were inlined into.
    #[prost(message, repeated, tag = "4")]
    pub line: Vec<Line>,
}

#[derive(Clone, PartialEq, Message)]
pub struct Line {
    #[prost(uint64, tag = "1")]
    pub function_id: u64,
    #[prost(int64, tag = "2")]
    pub line: i64,
}

#[derive(Clone, PartialEq, Message)]
pub struct Function {
    #[prost(uint64, tag = "1")]
    pub id: u64,
    /// Index into the string table.
    #[prost(int64, tag = "2")]
    pub name: i64,
    #[prost(int64, tag = "3")]
    pub system_name: i64,
    #[prost(int64, tag = "4")]
    pub filename: i64,
}

impl Profile {
    /// The string at a string-table index; empty when out of range.
    pub fn string(&self, index: i64) -> &str {
        usize::try_from(index)
            .ok()
            .and_then(|i| self.string_table.get(i))
            .map_or("", String::as_str)
    }

    /// Which value of each sample holds `type/unit` (`inuse_space`/`bytes`).
    pub fn value_index(&self, kind: &str, unit: &str) -> Option<usize> {
        self.sample_type
            .iter()
            .position(|t| self.string(t.r#type) == kind && self.string(t.unit) == unit)
    }
}

/// Why bytes are not a profile, said for a person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    Empty,
    /// The gzip stream is broken.
    Gzip(String),
    /// Inflated past [`MAX_INFLATED`].
    TooLarge,
    /// Not a protobuf `Profile`.
    Protobuf(String),
    /// A protobuf, but not a profile of the kind asked for.
    NotHeap,
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DecodeError::Empty => write!(f, "the profile is empty"),
            DecodeError::Gzip(e) => write!(f, "not a gzipped profile ({e})"),
            DecodeError::TooLarge => write!(
                f,
                "the profile inflates to more than {} MiB",
                MAX_INFLATED >> 20
            ),
            DecodeError::Protobuf(e) => write!(f, "not a pprof profile ({e})"),
            DecodeError::NotHeap => write!(
                f,
                "not a heap profile (no inuse_space/bytes and inuse_objects/count values)"
            ),
        }
    }
}

/// Inflates (when gzipped, as Go sends it) and decodes a profile.
pub fn decode(bytes: &[u8]) -> Result<Profile, DecodeError> {
    if bytes.is_empty() {
        return Err(DecodeError::Empty);
    }
    let inflated;
    let raw = if bytes.starts_with(&[0x1f, 0x8b]) {
        inflated = gunzip(bytes)?;
        &inflated[..]
    } else {
        bytes
    };
    Profile::decode(raw).map_err(|e| DecodeError::Protobuf(e.to_string()))
}

/// Inflates a gzip stream (all its members), at most [`MAX_INFLATED`] bytes.
fn gunzip(bytes: &[u8]) -> Result<Vec<u8>, DecodeError> {
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(bytes)
        .take(MAX_INFLATED + 1)
        .read_to_end(&mut out)
        .map_err(|e| DecodeError::Gzip(e.to_string()))?;
    if out.len() as u64 > MAX_INFLATED {
        return Err(DecodeError::TooLarge);
    }
    Ok(out)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A heap profile as Go writes one: four sample types, functions, and
    /// samples whose stacks are lists of (function, callers...) names.
    pub(crate) fn heap_profile(samples: &[(&[&str], [i64; 4])]) -> Profile {
        let mut strings = vec![String::new()];
        let mut intern = |s: &str| {
            if let Some(i) = strings.iter().position(|x| x == s) {
                return i as i64;
            }
            strings.push(s.to_string());
            strings.len() as i64 - 1
        };
        let sample_type = [
            ("alloc_objects", "count"),
            ("alloc_space", "bytes"),
            ("inuse_objects", "count"),
            ("inuse_space", "bytes"),
        ]
        .iter()
        .map(|(t, u)| ValueType {
            r#type: intern(t),
            unit: intern(u),
        })
        .collect();
        let mut function = Vec::new();
        let mut location = Vec::new();
        let mut sample = Vec::new();
        for (stack, values) in samples {
            let mut ids = Vec::new();
            for name in *stack {
                let name_ix = intern(name);
                let fid = match function.iter().position(|f: &Function| f.name == name_ix) {
                    Some(i) => i as u64 + 1,
                    None => {
                        function.push(Function {
                            id: function.len() as u64 + 1,
                            name: name_ix,
                            system_name: name_ix,
                            filename: 0,
                        });
                        function.len() as u64
                    }
                };
                location.push(Location {
                    id: location.len() as u64 + 1,
                    line: vec![Line {
                        function_id: fid,
                        line: 1,
                    }],
                });
                ids.push(location.len() as u64);
            }
            sample.push(Sample {
                location_id: ids,
                value: values.to_vec(),
            });
        }
        Profile {
            sample_type,
            sample,
            location,
            function,
            string_table: strings,
            time_nanos: 1,
            duration_nanos: 0,
            period_type: None,
            period: 512 * 1024,
        }
    }

    pub(crate) fn gzip(bytes: &[u8]) -> Vec<u8> {
        use std::io::Write;
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(bytes).unwrap();
        enc.finish().unwrap()
    }

    #[test]
    fn a_gzipped_profile_decodes_to_what_was_encoded() {
        let p = heap_profile(&[(&["main.leak", "main.main"], [1, 2, 3, 4])]);
        let bytes = gzip(&p.encode_to_vec());
        assert_eq!(decode(&bytes).unwrap(), p);
        assert_eq!(decode(&p.encode_to_vec()).unwrap(), p);
        assert_eq!(p.value_index("inuse_space", "bytes"), Some(3));
    }

    #[test]
    fn garbage_is_an_error_that_says_what_it_is() {
        assert_eq!(decode(b""), Err(DecodeError::Empty));
        let e = decode(b"<html>404 page not found</html>").unwrap_err();
        assert!(matches!(e, DecodeError::Protobuf(_)), "{e:?}");
        let e = decode(&[0x1f, 0x8b, 8, 0, 1, 2, 3]).unwrap_err();
        assert!(e.to_string().starts_with("not a gzipped profile"), "{e}");
    }

    #[test]
    fn a_gzip_bomb_stops_at_the_cap() {
        // 300 MiB of zeros compress to about 300 KiB.
        use std::io::Write;
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        let zeros = vec![0u8; 1 << 20];
        for _ in 0..300 {
            enc.write_all(&zeros).unwrap();
        }
        let bomb = enc.finish().unwrap();
        assert_eq!(decode(&bomb), Err(DecodeError::TooLarge));
    }
}
