//! Why a multipart body could not be read, and the answer that says so.

use std::io;

use crate::error::{Rejection, RejectionKind};

/// Why a `multipart/form-data` body could not be read. Converts into a [`Rejection`]:
/// 415 for another media type, 413 for a limit, 408 for a body too slow, 400 otherwise.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MultipartError {
    /// The request's `Content-Type` is not `multipart/form-data`.
    #[error("expected a request with content-type multipart/form-data")]
    NotMultipart,
    /// The `Content-Type` has no usable `boundary` parameter.
    #[error("the multipart/form-data content-type has no valid boundary")]
    InvalidBoundary,
    /// The body does not follow the multipart syntax.
    #[error("malformed multipart body: {0}")]
    Malformed(&'static str),
    /// The body ended before its closing delimiter.
    #[error("the multipart body ended before its closing boundary")]
    UnexpectedEnd,
    /// More parts than [`Multipart::max_parts`](super::Multipart::max_parts).
    #[error("more than {limit} parts in the multipart body")]
    TooManyParts {
        /// The limit.
        limit: usize,
    },
    /// A part's headers are longer than
    /// [`Multipart::max_part_header_bytes`](super::Multipart::max_part_header_bytes).
    #[error("a part's headers exceed {limit} bytes")]
    HeadersTooLarge {
        /// The limit.
        limit: usize,
    },
    /// A text field (a part without a file name) is longer than
    /// [`Multipart::max_field_bytes`](super::Multipart::max_field_bytes).
    #[error("field {name:?} exceeds {limit} bytes")]
    FieldTooLarge {
        /// The field's name.
        name: String,
        /// The limit.
        limit: u64,
    },
    /// A file part is longer than [`Multipart::max_file_bytes`](super::Multipart::max_file_bytes).
    #[error("file field {name:?} exceeds {limit} bytes")]
    FileTooLarge {
        /// The field's name.
        name: String,
        /// The limit.
        limit: u64,
    },
    /// Reading the body (or, in [`Multipart::save_to`](super::Multipart::save_to), writing
    /// a file) failed.
    #[error("multipart body: {0}")]
    Io(io::Error),
}

impl MultipartError {
    fn kind(&self) -> RejectionKind {
        match self {
            Self::NotMultipart => RejectionKind::UnsupportedMediaType,
            Self::TooManyParts { .. }
            | Self::HeadersTooLarge { .. }
            | Self::FieldTooLarge { .. }
            | Self::FileTooLarge { .. } => RejectionKind::BodyTooLarge,
            Self::Io(error) if error.kind() == io::ErrorKind::TimedOut => {
                RejectionKind::BodyTimeout
            }
            // A streamed body over its route's limit.
            Self::Io(error) if error.kind() == io::ErrorKind::FileTooLarge => {
                RejectionKind::BodyTooLarge
            }
            _ => RejectionKind::InvalidMultipart,
        }
    }
}

/// A [`Part`](super::Part)'s `Read` reports what went wrong as an `io::Error` carrying the
/// `MultipartError`: this takes it out again (any other error is [`MultipartError::Io`]).
impl From<io::Error> for MultipartError {
    fn from(error: io::Error) -> Self {
        match error.downcast::<MultipartError>() {
            Ok(inner) => inner,
            Err(error) => Self::Io(error),
        }
    }
}

impl From<MultipartError> for Rejection {
    fn from(error: MultipartError) -> Self {
        let kind = error.kind();
        let rejection = Rejection::of(kind, error.to_string());
        match &error {
            MultipartError::FieldTooLarge { name, .. }
            | MultipartError::FileTooLarge { name, .. } => {
                rejection.with_detail("field", name.clone())
            }
            _ => rejection,
        }
    }
}
