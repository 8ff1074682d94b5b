//! Turning an uploaded picture into what is stored: decoded under limits (the `image`
//! crate's `Limits` set before any pixel is read, and the pixel count checked from the
//! header), turned upright by its EXIF orientation, re-encoded (which leaves EXIF, GPS,
//! XMP and every other metadata behind), with thumbnails and a blurhash. CPU-bound: the
//! caller runs it on a blocking thread, a few at a time.

use std::io::{BufRead, BufReader, Cursor, Read, Seek};

use image::buffer::ConvertBuffer;
use image::codecs::gif::{GifDecoder, GifEncoder, Repeat};
use image::codecs::png::PngEncoder;
use image::{AnimationDecoder, DynamicImage, Frame, ImageDecoder, ImageReader, Limits};

use super::domain::{self, Format, Thumbnail};
use super::error::Error;

/// JPEG quality of re-encoded photos and of thumbnails.
const JPEG_QUALITY: u8 = 85;

/// One encoded picture: the stored bytes and what they show.
#[derive(Debug)]
pub struct Encoded {
    pub bytes: Vec<u8>,
    pub width: u32,
    pub height: u32,
    pub format: Format,
}

/// What a picture upload becomes.
#[derive(Debug)]
pub struct Processed {
    pub main: Encoded,
    pub thumbnails: Vec<(Thumbnail, Encoded)>,
    pub blurhash: String,
}

/// The decoders' allocation limit. Width and height are checked by
/// [`domain::check_dimensions`] from the header, which says why a picture is refused.
fn limits() -> Limits {
    let mut limits = Limits::default();
    limits.max_alloc = Some(domain::MAX_DECODE_ALLOC);
    limits
}

fn undecodable(e: impl std::fmt::Display) -> Error {
    Error::Undecodable(e.to_string())
}

/// Processes the picture `upload` reads, which sniffing found to be `format` (an image or
/// GIF).
pub fn process(upload: impl Read + Seek, format: Format) -> Result<Processed, Error> {
    let reader = BufReader::new(upload);
    match format {
        Format::Gif => process_gif(reader),
        _ => process_still(reader, format),
    }
}

fn process_still(reader: impl BufRead + Seek, format: Format) -> Result<Processed, Error> {
    let mut reader = ImageReader::new(reader)
        .with_guessed_format()
        .map_err(undecodable)?;
    reader.limits(limits());
    let mut decoder = reader.into_decoder().map_err(undecodable)?;
    let (width, height) = decoder.dimensions();
    domain::check_dimensions(width, height)?;
    let orientation = decoder
        .orientation()
        .unwrap_or(image::metadata::Orientation::NoTransforms);
    let mut image = DynamicImage::from_decoder(decoder).map_err(undecodable)?;
    image.apply_orientation(orientation);
    // A PNG stays a PNG; a JPEG a JPEG; a WebP becomes a PNG when it has transparency,
    // else a JPEG (the image crate writes lossless WebP only, too large for photos).
    let out = match format {
        Format::Png => Format::Png,
        Format::Webp if image.color().has_alpha() => Format::Png,
        _ => Format::Jpeg,
    };
    let main = encode_still(&image, out)?;
    let (thumbnails, blurhash) = thumbnails_and_blurhash(&image)?;
    Ok(Processed {
        thumbnails,
        blurhash,
        main,
    })
}

fn encode_still(image: &DynamicImage, format: Format) -> Result<Encoded, Error> {
    let mut bytes = Vec::new();
    match format {
        Format::Png => image
            .write_with_encoder(PngEncoder::new(&mut bytes))
            .map_err(undecodable)?,
        _ => bytes = jpeg(image)?,
    }
    Ok(Encoded {
        bytes,
        width: image.width(),
        height: image.height(),
        format: if format == Format::Png {
            Format::Png
        } else {
            Format::Jpeg
        },
    })
}

/// A JPEG of `image`, by jpeg-encoder (with AVX2 where the processor has it): the image
/// crate's own encoder took about half of a 12-megapixel photo's processing.
fn jpeg(image: &DynamicImage) -> Result<Vec<u8>, Error> {
    let converted;
    let rgb = match image.as_rgb8() {
        Some(rgb) => rgb,
        None => {
            converted = image.to_rgb8();
            &converted
        }
    };
    // Never fails: sides are at most `domain::MAX_SIDE`.
    let side = |v: u32| u16::try_from(v).map_err(|_| undecodable("wider than JPEG allows"));
    let (width, height) = (side(rgb.width())?, side(rgb.height())?);
    let mut bytes = Vec::new();
    jpeg_encoder::Encoder::new(&mut bytes, JPEG_QUALITY)
        .encode(rgb.as_raw(), width, height, jpeg_encoder::ColorType::Rgb)
        .map_err(undecodable)?;
    Ok(bytes)
}

/// A still thumbnail of every size (PNG when the picture has transparency, else JPEG),
/// and the blurhash. Each size is scaled from the next larger one, so the whole picture
/// is read once, not once per size.
fn thumbnails_and_blurhash(
    image: &DynamicImage,
) -> Result<(Vec<(Thumbnail, Encoded)>, String), Error> {
    let format = if image.color().has_alpha() {
        Format::Png
    } else {
        Format::Jpeg
    };
    // The smallest rendition so far; the picture itself until one is made.
    let mut scaled: Option<DynamicImage> = None;
    let mut thumbnails = Vec::new();
    for size in Thumbnail::ALL.into_iter().rev() {
        let from = scaled.as_ref().unwrap_or(image);
        let (w, h) = domain::fit(image.width(), image.height(), size.max_side());
        if (w, h) != (from.width(), from.height()) {
            scaled = Some(from.thumbnail_exact(w, h));
        }
        let thumbnail = scaled.as_ref().unwrap_or(image);
        thumbnails.push((size, encode_still(thumbnail, format)?));
    }
    thumbnails.reverse();
    Ok((thumbnails, blurhash(scaled.as_ref().unwrap_or(image))?))
}

/// The blurhash (4 × 3 components, as Mastodon sends) of a 32-pixel rendition.
fn blurhash(image: &DynamicImage) -> Result<String, Error> {
    let (w, h) = domain::fit(image.width(), image.height(), 32);
    let small = image.thumbnail_exact(w, h).to_rgba8();
    blurhash::encode(4, 3, w, h, small.as_raw()).map_err(|e| undecodable(format!("{e:?}")))
}

/// A GIF keeps every frame and its timing; it is decoded frame by frame, and refused once
/// the frames together pass the pixel limit.
fn process_gif(reader: impl BufRead + Seek) -> Result<Processed, Error> {
    let mut decoder = GifDecoder::new(reader).map_err(undecodable)?;
    decoder.set_limits(limits()).map_err(undecodable)?;
    let (width, height) = decoder.dimensions();
    domain::check_dimensions(width, height)?;
    let per_frame = u64::from(width) * u64::from(height);
    let mut frames: Vec<Frame> = Vec::new();
    for frame in decoder.into_frames() {
        let frame = frame.map_err(undecodable)?;
        if per_frame * (frames.len() as u64 + 1) > domain::MAX_PIXELS {
            return Err(domain::too_many_pixels(width, height));
        }
        frames.push(frame);
    }
    let Some(first) = frames.first() else {
        return Err(undecodable("the GIF has no frames"));
    };
    let still = DynamicImage::ImageRgb8(first.buffer().convert());
    let (thumbnails, blurhash) = thumbnails_and_blurhash(&still)?;
    let mut bytes = Vec::new();
    {
        let mut encoder = GifEncoder::new_with_speed(Cursor::new(&mut bytes), 10);
        encoder.set_repeat(Repeat::Infinite).map_err(undecodable)?;
        encoder.encode_frames(frames).map_err(undecodable)?;
    }
    Ok(Processed {
        main: Encoded {
            bytes,
            width,
            height,
            format: Format::Gif,
        },
        thumbnails,
        blurhash,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{ImageFormat, Rgb, RgbImage};

    fn jpeg(width: u32, height: u32) -> Vec<u8> {
        let img = RgbImage::from_fn(width, height, |x, _| Rgb([(x % 256) as u8, 40, 200]));
        let mut out = Cursor::new(Vec::new());
        img.write_to(&mut out, ImageFormat::Jpeg).unwrap();
        out.into_inner()
    }

    fn process_bytes(bytes: &[u8]) -> Result<Processed, Error> {
        process(Cursor::new(bytes), Format::sniff(bytes).unwrap())
    }

    #[test]
    fn a_photo_gets_thumbnails_that_fit_and_a_blurhash() {
        let p = process_bytes(&jpeg(2000, 1000)).unwrap();
        assert_eq!((p.main.width, p.main.height), (2000, 1000));
        assert_eq!(p.main.format, Format::Jpeg);
        let sizes: Vec<_> = p
            .thumbnails
            .iter()
            .map(|(t, e)| (*t, e.width, e.height))
            .collect();
        assert_eq!(
            sizes,
            [(Thumbnail::Small, 320, 160), (Thumbnail::Medium, 1280, 640)]
        );
        assert_eq!(
            p.blurhash.len(),
            1 + 1 + 4 + 2 * (4 * 3 - 1),
            "{}",
            p.blurhash
        );
    }

    #[test]
    fn a_truncated_picture_is_refused_not_a_panic() {
        let img = RgbImage::from_fn(200, 200, |x, y| Rgb([(x ^ y) as u8, 0, 0]));
        let mut png = Cursor::new(Vec::new());
        img.write_to(&mut png, ImageFormat::Png).unwrap();
        let bytes = png.into_inner();
        let cut = bytes.get(..bytes.len() / 3).unwrap();
        assert!(matches!(process_bytes(cut), Err(Error::Undecodable(_))));
        // A cut JPEG decodes as far as it goes (grey below), as browsers show it.
        let bytes = jpeg(200, 200);
        assert!(process_bytes(bytes.get(..bytes.len() / 3).unwrap()).is_ok());
    }
}
