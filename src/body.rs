//! Response bodies: nothing, bytes in memory, or a reader streamed to the client.

use std::borrow::Cow;
use std::fmt;
use std::fs::File;
use std::io::{self, Read};

/// The body of a [`Response`](crate::Response).
///
/// - in-memory bytes are sent with `Content-Length`;
/// - a [`Body::stream`] is sent with `Transfer-Encoding: chunked`, one chunk per `read`;
/// - a [`Body::sized_stream`] (a file, say) is sent with `Content-Length` and copied as read.
///
/// # Examples
///
/// ```
/// use switchyard::Body;
///
/// assert_eq!(Body::from("hello").len(), Some(5));
/// assert_eq!(Body::stream(std::io::empty()).len(), None);
/// ```
pub struct Body {
    kind: Kind,
}

pub(crate) enum Kind {
    Bytes(Cow<'static, [u8]>),
    Stream(Box<dyn Read + Send + 'static>),
    SizedStream(Box<dyn Read + Send + 'static>, u64),
}

impl Body {
    /// An empty body (`Content-Length: 0`).
    pub fn empty() -> Self {
        Self::from_bytes(Cow::Borrowed(&[]))
    }

    fn from_bytes(bytes: Cow<'static, [u8]>) -> Self {
        Self {
            kind: Kind::Bytes(bytes),
        }
    }

    /// A body of unknown length, sent chunked: each successful `read` of `reader` becomes
    /// one chunk, until it returns 0. An error while reading ends the connection, since the
    /// response can no longer be completed.
    pub fn stream<R: Read + Send + 'static>(reader: R) -> Self {
        Self {
            kind: Kind::Stream(Box::new(reader)),
        }
    }

    /// A body of `len` bytes read from `reader`, sent with `Content-Length`. If the reader
    /// ends early, the connection is closed (the client sees a truncated response rather than
    /// a wrong one).
    pub fn sized_stream<R: Read + Send + 'static>(reader: R, len: u64) -> Self {
        Self {
            kind: Kind::SizedStream(Box::new(reader), len),
        }
    }

    /// A file, sent with its current length as `Content-Length`.
    ///
    /// # Errors
    ///
    /// When the file's metadata cannot be read.
    pub fn file(file: File) -> io::Result<Self> {
        let len = file.metadata()?.len();
        Ok(Self::sized_stream(file, len))
    }

    /// The length in bytes, when known before sending.
    pub fn len(&self) -> Option<u64> {
        match &self.kind {
            Kind::Bytes(bytes) => Some(bytes.len() as u64),
            Kind::Stream(_) => None,
            Kind::SizedStream(_, len) => Some(*len),
        }
    }

    /// Whether the body is known to be empty.
    pub fn is_empty(&self) -> bool {
        self.len() == Some(0)
    }

    /// The bytes of an in-memory body; `None` for a streamed one.
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match &self.kind {
            Kind::Bytes(bytes) => Some(bytes),
            Kind::Stream(_) | Kind::SizedStream(..) => None,
        }
    }

    /// Reads the whole body into memory (streams included).
    ///
    /// # Errors
    ///
    /// What the stream's reader reports.
    pub fn into_bytes(self) -> io::Result<Vec<u8>> {
        match self.kind {
            Kind::Bytes(bytes) => Ok(bytes.into_owned()),
            Kind::Stream(mut reader) => {
                let mut bytes = Vec::new();
                reader.read_to_end(&mut bytes)?;
                Ok(bytes)
            }
            Kind::SizedStream(reader, len) => {
                let mut bytes = Vec::new();
                reader.take(len).read_to_end(&mut bytes)?;
                Ok(bytes)
            }
        }
    }

    pub(crate) fn into_kind(self) -> Kind {
        self.kind
    }
}

/// A request body as the connection engine hands it over: read in full, or to be read by
/// the handler as it arrives.
pub(crate) enum RequestBody {
    Full(Vec<u8>),
    Stream(std::sync::Arc<std::sync::Mutex<dyn Read + Send>>),
}

impl Default for Body {
    fn default() -> Self {
        Self::empty()
    }
}

impl fmt::Debug for Body {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            Kind::Bytes(bytes) => f.debug_tuple("Body::Bytes").field(&bytes.len()).finish(),
            Kind::Stream(_) => f.write_str("Body::Stream(..)"),
            Kind::SizedStream(_, len) => f.debug_tuple("Body::SizedStream").field(len).finish(),
        }
    }
}

impl From<&'static str> for Body {
    fn from(text: &'static str) -> Self {
        Self::from_bytes(Cow::Borrowed(text.as_bytes()))
    }
}

impl From<&'static [u8]> for Body {
    fn from(bytes: &'static [u8]) -> Self {
        Self::from_bytes(Cow::Borrowed(bytes))
    }
}

impl From<String> for Body {
    fn from(text: String) -> Self {
        Self::from_bytes(Cow::Owned(text.into_bytes()))
    }
}

impl From<Vec<u8>> for Body {
    fn from(bytes: Vec<u8>) -> Self {
        Self::from_bytes(Cow::Owned(bytes))
    }
}

impl From<()> for Body {
    fn from((): ()) -> Self {
        Self::empty()
    }
}
