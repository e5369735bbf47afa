//! [`Multipart::save_to`]: text fields gathered, files written to a directory.

use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use super::{Multipart, MultipartError};

impl<R: Read> Multipart<R> {
    /// Reads every part: text fields into [`Form::fields`], file parts (those with a file
    /// name) into new files in `dir`, named by this crate (`upload-` and random
    /// characters, created exclusively; never the client's file name, which is kept in
    /// [`SavedFile::filename`]), readable and writable by the server's user only. All or
    /// nothing: if an error follows, the files already written are removed.
    ///
    /// # Errors
    ///
    /// As [`next_part`](Self::next_part); a text field that is not UTF-8 is
    /// [`MultipartError::Malformed`]; failing to create or write a file is
    /// [`MultipartError::Io`].
    pub fn save_to(mut self, dir: impl AsRef<Path>) -> Result<Form, MultipartError> {
        let dir = dir.as_ref();
        let mut form = Form::default();
        // Removed when dropped: on an error, no file of the form stays.
        let mut written = Vec::new();
        while let Some(mut part) = self.next_part()? {
            let Some(filename) = part.filename().map(str::to_owned) else {
                let mut value = Vec::new();
                part.read_to_end(&mut value).map_err(MultipartError::from)?;
                let value = String::from_utf8(value)
                    .map_err(|_| MultipartError::Malformed("a text field is not UTF-8"))?;
                form.fields.push((part.name().to_owned(), value));
                continue;
            };
            let mut file = tempfile::Builder::new()
                .prefix("upload-")
                .tempfile_in(dir)?;
            let size = io::copy(&mut part, file.as_file_mut()).map_err(MultipartError::from)?;
            file.as_file_mut().flush()?;
            let path = file.into_temp_path();
            form.files.push(SavedFile {
                name: part.name().to_owned(),
                filename,
                content_type: part.content_type().map(str::to_owned),
                path: path.to_path_buf(),
                size,
            });
            written.push(path);
        }
        for path in written {
            path.keep()
                .map_err(|error| MultipartError::from(error.error))?;
        }
        Ok(form)
    }
}

/// What [`Multipart::save_to`] gathered.
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct Form {
    /// The text fields, `(name, value)` in order.
    pub fields: Vec<(String, String)>,
    /// The files written, in order.
    pub files: Vec<SavedFile>,
}

impl Form {
    /// The first text field called `name`.
    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(field, _)| field == name)
            .map(|(_, value)| value.as_str())
    }
}

/// A file part [`Multipart::save_to`] wrote.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SavedFile {
    /// The form field's name.
    pub name: String,
    /// The client's name for the file (not a safe path).
    pub filename: String,
    /// The part's `Content-Type`.
    pub content_type: Option<String>,
    /// Where it was written.
    pub path: PathBuf,
    /// Its size in bytes.
    pub size: u64,
}
