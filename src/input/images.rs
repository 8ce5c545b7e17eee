//! Images from disk: an issue's `image.src`, its Markdown images and the list's logo may be
//! paths to files (relative to the file that names them) instead of web addresses.
//!
//! Input: the paths as written. Output: [`Images`], each distinct file read once, checked
//! (a regular file, not a symbolic link, at most [`MAX_IMAGE_BYTES`], a PNG, JPEG, GIF or
//! WebP by its bytes, whatever its name says), with its pixel size from its header and a
//! content hash that names it (`Content-ID`, file names in a preview or an assets folder).
//! Two paths to the same bytes are one image, so a message carries it once.
//!
//! The files are the user's, but a shared folder or a downloaded issue can hold anything: a
//! link pointing at `/etc/shadow`, a FIFO that never ends, a 4 GB "photo". So a file is opened
//! without following a symbolic link at its last component, only a regular file is read, and
//! never more than the cap.

use std::{
    collections::BTreeMap,
    fmt,
    fs::{File, OpenOptions},
    io::Read,
    os::unix::fs::OpenOptionsExt,
    path::{Path, PathBuf},
    str::FromStr,
};

use sha2::{Digest, Sha256};

use crate::input::{text, values::WebUrl};

/// The largest image file read (5 MB): an email carrying more is refused by many servers.
/// `check` warns far below this ([`crate::compose::lint`]: 200 KB an image, 1 MB a message).
pub(crate) const MAX_IMAGE_BYTES: u64 = 5_000_000;

/// Where an image comes from: a web address (mail clients fetch it) or a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ImageSource {
    Web(WebUrl),
    /// A path as written, relative to the file that names it.
    File(String),
}

impl fmt::Display for ImageSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ImageSource::Web(url) => fmt::Display::fmt(url, f),
            ImageSource::File(path) => f.write_str(path),
        }
    }
}

impl ImageSource {
    pub(crate) fn is_https(&self) -> bool {
        match self {
            ImageSource::Web(url) => url.is_https(),
            ImageSource::File(_) => true,
        }
    }
}

/// Whether `target` (an image's `src`, a Markdown image's target) names a file: it has no
/// URL scheme. `https://…`, `data:…` and `javascript:…` are URLs; `photo.png`,
/// `img/photo one.jpg` and `../shared/logo.png` are files.
pub(crate) fn is_file_path(target: &str) -> bool {
    let target = target.trim();
    !target.is_empty()
        && matches!(
            url::Url::parse(target),
            Err(url::ParseError::RelativeUrlWithoutBase)
        )
}

impl FromStr for ImageSource {
    type Err = String;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        let value = value.trim();
        if is_file_path(value) {
            text::check_one_line(value)?;
            text::check_visible(value)?;
            if value.len() > 1024 {
                return Err("is a path over 1024 bytes long".into());
            }
            return Ok(ImageSource::File(value.to_owned()));
        }
        value.parse::<WebUrl>().map(ImageSource::Web).map_err(|_| {
            format!("`{value}` is neither an http:// or https:// URL nor a path to an image file")
        })
    }
}

crate::input::values::deserialize_from_str!(ImageSource);

/// The image formats mail clients show, told apart by their first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ImageKind {
    Png,
    Jpeg,
    Gif,
    Webp,
}

impl ImageKind {
    /// The kind the bytes say, whatever the file is called.
    pub(crate) fn sniff(bytes: &[u8]) -> Option<ImageKind> {
        if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
            Some(ImageKind::Png)
        } else if bytes.starts_with(&[0xff, 0xd8, 0xff]) {
            Some(ImageKind::Jpeg)
        } else if bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a") {
            Some(ImageKind::Gif)
        } else if bytes.len() >= 12 && bytes.starts_with(b"RIFF") && &bytes[8..12] == b"WEBP" {
            Some(ImageKind::Webp)
        } else {
            None
        }
    }

    pub(crate) fn mime(self) -> &'static str {
        match self {
            ImageKind::Png => "image/png",
            ImageKind::Jpeg => "image/jpeg",
            ImageKind::Gif => "image/gif",
            ImageKind::Webp => "image/webp",
        }
    }

    pub(crate) fn extension(self) -> &'static str {
        match self {
            ImageKind::Png => "png",
            ImageKind::Jpeg => "jpg",
            ImageKind::Gif => "gif",
            ImageKind::Webp => "webp",
        }
    }
}

/// What a file that is not an image looks like, for the error message.
fn describe(bytes: &[u8]) -> &'static str {
    let start = String::from_utf8_lossy(&bytes[..bytes.len().min(512)]).to_ascii_lowercase();
    if start.contains("<svg") {
        "an SVG drawing, which most mail clients do not show"
    } else if bytes.is_empty() {
        "an empty file"
    } else if std::str::from_utf8(bytes).is_ok() {
        "text"
    } else {
        "data of another kind"
    }
}

/// One image file, read and checked.
#[derive(Debug, Clone)]
pub(crate) struct ImageFile {
    /// The path it was read from (as joined to its folder), for messages.
    pub(crate) path: PathBuf,
    pub(crate) kind: ImageKind,
    pub(crate) bytes: Vec<u8>,
    /// Its size in pixels, from its header.
    pub(crate) width: u32,
    pub(crate) height: u32,
    /// Hex SHA-256 of the bytes.
    digest: String,
}

impl ImageFile {
    /// Reads the image at `path`: the message says what is wrong, in words for the user.
    pub(crate) fn read(path: &Path) -> Result<ImageFile, String> {
        let shown = path.display();
        let file = OpenOptions::new()
            .read(true)
            // O_NONBLOCK: a FIFO put where a photo should be would otherwise block the open.
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC | libc::O_NONBLOCK)
            .open(path)
            .map_err(|error| open_error(path, &error))?;
        let metadata = file
            .metadata()
            .map_err(|error| format!("`{shown}` cannot be read: {error}"))?;
        if !metadata.is_file() {
            return Err(format!(
                "`{shown}` is not a regular file; an image must be a PNG, JPEG, GIF or WebP file"
            ));
        }
        if metadata.len() > MAX_IMAGE_BYTES {
            return Err(too_large(path, metadata.len()));
        }
        let bytes = read_capped(file, path)?;
        let kind = ImageKind::sniff(&bytes).ok_or_else(|| {
            format!(
                "`{shown}` is not a PNG, JPEG, GIF or WebP image (its bytes are {}); save it as one of those",
                describe(&bytes)
            )
        })?;
        let size = imagesize::blob_size(&bytes).map_err(|_| {
            format!(
                "`{shown}` starts like a {} image but its header is damaged; save it again",
                kind.extension().to_uppercase()
            )
        })?;
        let (width, height) = (
            u32::try_from(size.width).unwrap_or(u32::MAX),
            u32::try_from(size.height).unwrap_or(u32::MAX),
        );
        if width == 0 || height == 0 {
            return Err(format!("`{shown}` says it is {width}×{height} pixels"));
        }
        Ok(ImageFile {
            path: path.to_owned(),
            kind,
            digest: crate::units::hex(&Sha256::digest(&bytes)),
            bytes,
            width,
            height,
        })
    }

    /// The name of the image wherever it is stored as a file (a preview folder, the folder to
    /// upload): from its content, so a changed image gets a new name (no stale cache) and
    /// the same image under two names is stored once.
    pub(crate) fn file_name(&self) -> String {
        format!("{}.{}", &self.digest[..16], self.kind.extension())
    }

    /// The `Content-ID` of the image's part in a message (without angle brackets), on the
    /// sender's domain.
    pub(crate) fn content_id(&self, domain: &str) -> String {
        format!("{}@{domain}", &self.digest[..16])
    }

    /// The height shown at `width` pixels wide, keeping the image's proportions.
    pub(crate) fn height_at(&self, width: u32) -> u32 {
        let height = u64::from(self.height) * u64::from(width) / u64::from(self.width);
        u32::try_from(height).unwrap_or(u32::MAX).max(1)
    }
}

fn open_error(path: &Path, error: &std::io::Error) -> String {
    let shown = path.display();
    let is_link = error.raw_os_error() == Some(libc::ELOOP)
        || std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink());
    if is_link {
        format!(
            "`{shown}` is a symbolic link; images are read from regular files only (put the file itself there)"
        )
    } else if error.kind() == std::io::ErrorKind::NotFound {
        format!("`{shown}` does not exist")
    } else {
        format!("`{shown}` cannot be read: {error}")
    }
}

fn too_large(path: &Path, size: u64) -> String {
    format!(
        "`{}` is {size} bytes; images are limited to {MAX_IMAGE_BYTES} bytes (an email image rarely needs more than 200 KB)",
        path.display(),
    )
}

/// Reads `file` to its end, never more than the cap (a file can grow after its size was read).
fn read_capped(file: File, path: &Path) -> Result<Vec<u8>, String> {
    let mut bytes = Vec::new();
    file.take(MAX_IMAGE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|error| format!("`{}` cannot be read: {error}", path.display()))?;
    if bytes.len() as u64 > MAX_IMAGE_BYTES {
        return Err(too_large(path, bytes.len() as u64));
    }
    Ok(bytes)
}

/// The image files of one issue, each distinct file once, found by the path as written.
#[derive(Debug, Clone, Default)]
pub(crate) struct Images {
    files: Vec<ImageFile>,
    /// Paths as written in the issue (relative to the issue's folder).
    in_issue: BTreeMap<String, usize>,
    /// The list's logo, when it is a file.
    logo: Option<usize>,
}

impl Images {
    /// Adds `file`, found as `written` in the issue (or as the logo): the same bytes found
    /// before are not kept twice.
    pub(crate) fn add(&mut self, written: Option<&str>, file: ImageFile) {
        let index = self
            .files
            .iter()
            .position(|known| known.digest == file.digest)
            .unwrap_or_else(|| {
                self.files.push(file);
                self.files.len() - 1
            });
        match written {
            Some(written) => {
                self.in_issue.insert(written.to_owned(), index);
            }
            None => self.logo = Some(index),
        }
    }

    /// Whether the issue has read `written` already.
    pub(crate) fn knows(&self, written: &str) -> bool {
        self.in_issue.contains_key(written)
    }

    /// The file an issue names as `written`.
    pub(crate) fn in_issue(&self, written: &str) -> Option<&ImageFile> {
        self.in_issue
            .get(written.trim())
            .map(|&index| &self.files[index])
    }

    pub(crate) fn logo(&self) -> Option<&ImageFile> {
        self.logo.map(|index| &self.files[index])
    }

    /// Every distinct image, in the order first named.
    pub(crate) fn files(&self) -> &[ImageFile] {
        &self.files
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 2×1 PNG (made with Python's zlib), the smallest real image the tests need.
    const TINY_PNG: &[u8] = &[
        0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44,
        0x52, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x01, 0x08, 0x02, 0x00, 0x00, 0x00, 0x7b,
        0x40, 0xe8, 0xdd, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x44, 0x41, 0x54, 0x78, 0xda, 0x63, 0xf8,
        0xcf, 0x00, 0x04, 0xff, 0x01, 0x07, 0x00, 0x01, 0xff, 0x3d, 0x7d, 0x8c, 0x49, 0x00, 0x00,
        0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
    ];

    fn temp(name: &str) -> PathBuf {
        let folder =
            std::env::temp_dir().join(format!("newsletter-images-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&folder);
        std::fs::create_dir_all(&folder).unwrap();
        folder
    }

    #[test]
    fn sources_are_urls_or_file_paths() {
        assert!(matches!(
            "https://example.org/a.png".parse(),
            Ok(ImageSource::Web(_))
        ));
        assert_eq!(
            "img/a photo.png".parse::<ImageSource>(),
            Ok(ImageSource::File("img/a photo.png".into()))
        );
        assert!("javascript:alert(1)".parse::<ImageSource>().is_err());
        assert!("data:image/png;base64,AAAA".parse::<ImageSource>().is_err());
        assert!("a\nb.png".parse::<ImageSource>().is_err());
    }

    #[test]
    fn kinds_come_from_the_bytes() {
        assert_eq!(ImageKind::sniff(TINY_PNG), Some(ImageKind::Png));
        assert_eq!(ImageKind::sniff(b"GIF89a...."), Some(ImageKind::Gif));
        assert_eq!(
            ImageKind::sniff(b"RIFF\0\0\0\0WEBPVP8 "),
            Some(ImageKind::Webp)
        );
        assert_eq!(
            ImageKind::sniff(&[0xff, 0xd8, 0xff, 0xe0]),
            Some(ImageKind::Jpeg)
        );
        assert_eq!(ImageKind::sniff(b"<svg xmlns=\"...\"></svg>"), None);
    }

    #[test]
    fn a_real_png_is_read_with_its_size() {
        let folder = temp("png");
        let path = folder.join("dot.png");
        std::fs::write(&path, TINY_PNG).unwrap();
        let image = ImageFile::read(&path).unwrap();
        assert_eq!((image.width, image.height), (2, 1));
        assert_eq!(image.kind.mime(), "image/png");
        assert_eq!(image.file_name().len(), "0123456789abcdef.png".len());
        assert_eq!(image.height_at(520), 260);
        assert_eq!(
            image.content_id("example.org"),
            format!("{}@example.org", &image.file_name()[..16])
        );
    }

    #[test]
    fn links_fifos_text_and_big_files_are_refused() {
        let folder = temp("refused");
        std::fs::write(folder.join("real.png"), TINY_PNG).unwrap();
        std::os::unix::fs::symlink(folder.join("real.png"), folder.join("link.png")).unwrap();
        let error = ImageFile::read(&folder.join("link.png")).unwrap_err();
        assert!(error.contains("is a symbolic link"), "{error}");
        std::fs::write(folder.join("fake.png"), "<svg></svg>").unwrap();
        let error = ImageFile::read(&folder.join("fake.png")).unwrap_err();
        assert!(error.contains("an SVG drawing"), "{error}");
        let error = ImageFile::read(&folder.join("gone.png")).unwrap_err();
        assert!(error.ends_with("does not exist"), "{error}");
        let big = std::fs::File::create(folder.join("big.png")).unwrap();
        big.set_len(MAX_IMAGE_BYTES + 1).unwrap();
        let error = ImageFile::read(&folder.join("big.png")).unwrap_err();
        assert!(
            error.contains("images are limited to 5000000 bytes"),
            "{error}"
        );
        let fifo = folder.join("fifo.png");
        assert!(
            std::process::Command::new("mkfifo")
                .arg(&fifo)
                .status()
                .unwrap()
                .success()
        );
        let error = ImageFile::read(&fifo).unwrap_err();
        assert!(error.contains("not a regular file"), "{error}");
        let mut truncated = TINY_PNG[..12].to_vec();
        truncated.extend_from_slice(b"IH");
        std::fs::write(folder.join("cut.png"), truncated).unwrap();
        let error = ImageFile::read(&folder.join("cut.png")).unwrap_err();
        assert!(error.contains("header is damaged"), "{error}");
    }

    #[test]
    fn the_same_bytes_are_kept_once() {
        let folder = temp("dedupe");
        std::fs::write(folder.join("a.png"), TINY_PNG).unwrap();
        std::fs::write(folder.join("b.png"), TINY_PNG).unwrap();
        let mut images = Images::default();
        images.add(
            Some("a.png"),
            ImageFile::read(&folder.join("a.png")).unwrap(),
        );
        images.add(
            Some("b.png"),
            ImageFile::read(&folder.join("b.png")).unwrap(),
        );
        images.add(None, ImageFile::read(&folder.join("a.png")).unwrap());
        assert_eq!(images.files().len(), 1);
        assert!(images.in_issue("b.png").is_some() && images.logo().is_some());
    }
}
