//! Decoding the `.edge` records: postcard's encoding, read by hand.
//!
//! The compiler writes the records with serde and postcard
//! ([`super::write`]); reading them through serde's derived visitors took
//! about 13 KB of Cortex-M code (a quarter of the firmware's), so the runtime
//! reads the same bytes with this small reader instead. The encoding
//! (postcard 1.x): `u8` and `bool` one byte (`bool` 0 or 1); `u32` a LEB128
//! varint of at most 5 bytes; `i32` zigzag then varint; `f32` 4 bytes
//! little-endian; `Option` a 0/1 byte then the value; an enum its variant
//! index as a varint, then the variant's content; a struct its fields in
//! declaration order; an array its elements; `&[u8]` and `&str` a varint
//! length then the bytes (`&str` UTF-8). Bytes after a record's last field
//! are ignored (fields appended by a newer writer). Any invalid or missing
//! byte makes the record an [`Error::Decode`].
//!
//! Every impl below lists the fields of its type in `schema.rs` in order.
//! The tests decode every record of real models with both this reader and
//! postcard's serde decoder and require the same values
//! (`tests::matches_postcard_on_real_models`).

use super::schema::*;
use crate::error::Error;

/// A cursor over record bytes. Reads never fail one by one: past the end or
/// on an invalid value they return a placeholder (0, empty, the first
/// variant) and mark the reader bad, and [`Reader::read`] turns that into
/// [`Error::Decode`] once the whole value is read. (Checking every field
/// made the reader several KB larger on Cortex-M.)
pub(crate) struct Reader<'a> {
    rest: &'a [u8],
    bad: bool,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Reader {
            rest: bytes,
            bad: false,
        }
    }

    /// The bytes not read yet.
    pub(crate) fn rest(&self) -> &'a [u8] {
        self.rest
    }

    /// A whole value, or [`Error::Decode`] if any part of it was invalid.
    pub(crate) fn read<T: Decode<'a>>(&mut self) -> Result<T, Error> {
        let v = T::decode(self);
        if self.bad { Err(Error::Decode) } else { Ok(v) }
    }

    fn fail(&mut self) {
        self.bad = true;
        self.rest = &[];
    }

    fn byte(&mut self) -> u8 {
        match self.rest.split_first() {
            Some((&b, rest)) => {
                self.rest = rest;
                b
            }
            None => {
                self.fail();
                0
            }
        }
    }

    // Out of line: inlined into each field of each operator it made the
    // reader KBs of Cortex-M code.
    #[inline(never)]
    fn varint(&mut self) -> u32 {
        let mut v = 0u32;
        for i in 0..5 {
            let b = self.byte();
            // The 5th byte holds the top 4 bits and ends the varint.
            if i == 4 && b > 0x0f {
                break;
            }
            v |= u32::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                return v;
            }
        }
        self.fail();
        0
    }

    /// A length-prefixed byte string.
    #[inline(never)]
    pub(crate) fn bytes(&mut self) -> &'a [u8] {
        let n = self.varint() as usize;
        if n > self.rest.len() {
            self.fail();
            return &[];
        }
        let (b, rest) = self.rest.split_at(n);
        self.rest = rest;
        b
    }
}

/// A value read from record bytes (see [`Reader`] for errors).
pub(crate) trait Decode<'a>: Sized {
    fn decode(r: &mut Reader<'a>) -> Self;
}

impl<'a> Decode<'a> for u8 {
    fn decode(r: &mut Reader<'a>) -> Self {
        r.byte()
    }
}

impl<'a> Decode<'a> for bool {
    fn decode(r: &mut Reader<'a>) -> Self {
        match r.byte() {
            0 => false,
            1 => true,
            _ => {
                r.fail();
                false
            }
        }
    }
}

impl<'a> Decode<'a> for u32 {
    fn decode(r: &mut Reader<'a>) -> Self {
        r.varint()
    }
}

impl<'a> Decode<'a> for i32 {
    #[inline(never)]
    fn decode(r: &mut Reader<'a>) -> Self {
        let v = r.varint();
        ((v >> 1) as i32) ^ -((v & 1) as i32)
    }
}

impl<'a> Decode<'a> for f32 {
    #[inline(never)]
    fn decode(r: &mut Reader<'a>) -> Self {
        let mut b = [0u8; 4];
        for x in b.iter_mut() {
            *x = r.byte();
        }
        f32::from_le_bytes(b)
    }
}

impl<'a> Decode<'a> for &'a [u8] {
    fn decode(r: &mut Reader<'a>) -> Self {
        r.bytes()
    }
}

impl<'a> Decode<'a> for &'a str {
    fn decode(r: &mut Reader<'a>) -> Self {
        match core::str::from_utf8(r.bytes()) {
            Ok(s) => s,
            Err(_) => {
                r.fail();
                ""
            }
        }
    }
}

impl<'a, T: Decode<'a>> Decode<'a> for Option<T> {
    fn decode(r: &mut Reader<'a>) -> Self {
        match r.byte() {
            0 => None,
            1 => Some(T::decode(r)),
            _ => {
                r.fail();
                None
            }
        }
    }
}

impl<'a, T: Decode<'a> + Copy + Default, const N: usize> Decode<'a> for [T; N] {
    fn decode(r: &mut Reader<'a>) -> Self {
        let mut out = [T::default(); N];
        for x in out.iter_mut() {
            *x = T::decode(r);
        }
        out
    }
}

/// `Decode` for structs: their fields in declaration order. Fields after a
/// `;` were appended in a later format version: a record that ends before
/// one (an older file) reads it as its default.
macro_rules! structs {
    ($($name:ident $(<$lt:lifetime>)? { $($field:ident),* $(; $($late:ident),+)? $(,)? })*) => {$(
        impl<'a> Decode<'a> for $name $(<$lt>)? {
            #[inline(never)]
            fn decode(r: &mut Reader<'a>) -> Self {
                $name {
                    $($field: Decode::decode(r),)*
                    $($($late: if r.rest().is_empty() {
                        Default::default()
                    } else {
                        Decode::decode(r)
                    },)+)?
                }
            }
        }
    )*};
}

/// `Decode` for enums: the variant index, then the content of tuple
/// variants. An unknown index marks the reader bad and reads as the first
/// variant (the value is dropped).
macro_rules! enums {
    ($($name:ident { $first:ident $(($first_inner:ident))? $(, $variant:ident $(($inner:ident))?)* $(,)? })*) => {$(
        impl<'a> Decode<'a> for $name {
            fn decode(r: &mut Reader<'a>) -> Self {
                let index = r.varint();
                #[allow(unused_mut)] // one-variant enums
                let mut i = 1u32;
                $(
                    if index == i {
                        return $name::$variant $((<$inner>::decode(r)))?;
                    }
                    i += 1;
                )*
                let _ = i;
                if index != 0 {
                    r.fail();
                }
                $name::$first $((<$first_inner>::decode(r)))?
            }
        }
    )*};
}

structs! {
    Buf { mem, offset, len }
    Shape { rank, dims }
    QParams { scale, zero_point }
    TensorDesc<'a> { name, dtype, shape, quant, buf }
    Meta<'a> { name, arena_bytes, num_inputs, inputs, num_outputs, outputs, num_ops, ops, num_tensors, tensors }
    OpRecord<'a> { name, op }
    ClampF32 { min, max }
    Requant { mult, shift, output_offset, act_min, act_max }
    ConvGeom { n, in_h, in_w, in_c, out_h, out_w, out_c, k_h, k_w, stride_h, stride_w, dil_h, dil_w, pad_top, pad_left, groups }
    ConvF32 { geom, input, weights, bias, output, act }
    ConvI8 { geom, input, weights, bias, output, input_offset, weight_offset, rq; packed }
    PackedWeights { kind, buf }
    PoolGeom { kind, n, in_h, in_w, c, out_h, out_w, k_h, k_w, stride_h, stride_w, dil_h, dil_w, pad_top, pad_left, pad_bottom, pad_right, count_include_pad }
    PoolF32 { geom, input, output, act }
    PoolI8 { geom, input, output, input_zero_point, rq }
    FcF32 { rows, k, n, input, weights, bias, bias_per_row, output, act }
    FcI8 { rows, k, n, input, weights, bias, output, input_offset, weight_offset, rq; packed }
    MatMulF32 { m, k, n, batch, a_stride, b_stride, a, b, output }
    BinaryF32 { kind, shape, a_stride, b_stride, a, b, output, act }
    BinaryI8 { kind, shape, a_stride, b_stride, a, b, output, a_offset, b_offset, left_shift, a_mult, a_shift, b_mult, b_shift, rq }
    UnaryF32 { kind, len, input, output, act }
    Lut8 { len, input, output, table }
    SoftmaxF32 { outer, axis, inner, log, input, output }
    SoftmaxI8 { outer, axis, inner, input, output, exp_table, out_scale, out_zero_point }
    CopyChunks { outer, chunk, dst_start, dst_stride, input, output, table }
    Transpose { elem, shape, perm, input, output }
    Gather { elem, in_shape, out_shape, maps, input, output }
    Quantize { out_dtype, outer, axis, inner, per_axis, scales, zero_points, input, output }
    Dequantize { in_dtype, outer, axis, inner, per_axis, scales, zero_points, input, output }
    ChannelAffineF32 { outer, channels, inner, scale, shift, input, output, act }
    NmsOp { num_batches, num_classes, num_boxes, center_point_box, max_per_class, iou_threshold, score_threshold, boxes, scores, output }
    LrnF32 { pixels, channels, size, alpha, beta, bias, input, output }
    AnchorLevelRecord { rows, cols, num_sizes, sizes, num_ratios, ratios }
    DetectorRecord<'a> { input_size, variances, scores_output, boxes_output, num_classes, classes, num_levels, levels }
}

enums! {
    DType { F32, I8, U8, I32 }
    Mem { Arena, Blob }
    PoolKind { Max, Avg }
    PackKind { Avx2I16, DspI16, Avx2WinogradI16 }
    BinaryKind { Add, Sub, Mul, Div, Max, Min }
    UnaryKind { Clamp, Sigmoid, Tanh, Exp, Neg, Abs }
    Op { ConvF32(ConvF32), ConvI8(ConvI8), PoolF32(PoolF32), PoolI8(PoolI8), FcF32(FcF32), FcI8(FcI8), MatMulF32(MatMulF32), BinaryF32(BinaryF32), BinaryI8(BinaryI8), UnaryF32(UnaryF32), Lut8(Lut8), SoftmaxF32(SoftmaxF32), SoftmaxI8(SoftmaxI8), CopyChunks(CopyChunks), Transpose(Transpose), Gather(Gather), Quantize(Quantize), Dequantize(Dequantize), ChannelAffineF32(ChannelAffineF32), Nms(NmsOp), LrnF32(LrnF32) }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use proptest::prelude::*;

    /// `v` encoded by postcard (the writer's library), read back by hand.
    fn roundtrip<'a, T>(v: &T, buf: &'a mut [u8]) -> Result<T, Error>
    where
        T: serde::Serialize + Decode<'a>,
    {
        let used = postcard::to_slice(v, buf).map_err(|_| Error::Decode)?;
        Reader::new(used).read()
    }

    proptest! {
        #[test]
        fn scalars_match_postcard(a: u32, b: i32, c: f32, d: bool, e: u8, f: Option<i32>, g: [u32; 6]) {
            let mut buf = [0u8; 64];
            prop_assert_eq!(roundtrip(&a, &mut buf), Ok(a));
            prop_assert_eq!(roundtrip(&b, &mut buf), Ok(b));
            prop_assert_eq!(roundtrip(&c, &mut buf).map(f32::to_bits), Ok(c.to_bits()));
            prop_assert_eq!(roundtrip(&d, &mut buf), Ok(d));
            prop_assert_eq!(roundtrip(&e, &mut buf), Ok(e));
            prop_assert_eq!(roundtrip(&f, &mut buf), Ok(f));
            prop_assert_eq!(roundtrip(&g, &mut buf), Ok(g));
        }

        #[test]
        fn byte_strings_match_postcard(s in ".{0,200}") {
            let mut buf = [0u8; 1024];
            let used = postcard::to_slice(&s.as_str(), &mut buf).map_err(|_| Error::Decode);
            let used = used.unwrap_or_default();
            prop_assert_eq!(Reader::new(used).read::<&str>(), Ok(s.as_str()));
        }

        /// Any bytes: an error or a value, never a panic; postcard agrees on
        /// which (for a whole operator record).
        #[test]
        fn arbitrary_bytes_agree_with_postcard(bytes in proptest::collection::vec(any::<u8>(), 0..80)) {
            let ours = Reader::new(&bytes).read::<Op>();
            let theirs = postcard::from_bytes::<Op>(&bytes).map_err(|_| Error::Decode);
            // As text: NaN fields are equal there.
            prop_assert_eq!(std::format!("{ours:?}"), std::format!("{theirs:?}"));
        }
    }

    #[test]
    fn invalid_encodings_are_errors() {
        let bad: [&[u8]; 4] = [
            &[0x80, 0x80, 0x80, 0x80, 0x10], // u32 overflow in the 5th byte
            &[0xff, 0xff, 0xff, 0xff, 0x8f], // a 6th byte
            &[0x80],                         // cut off
            &[],
        ];
        for b in bad {
            assert_eq!(Reader::new(b).read::<u32>(), Err(Error::Decode), "{b:?}");
        }
        assert_eq!(
            Reader::new(&[0xff, 0xff, 0xff, 0xff, 0x0f]).read::<u32>(),
            Ok(u32::MAX)
        );
        assert_eq!(Reader::new(&[2]).read::<bool>(), Err(Error::Decode));
        assert_eq!(
            Reader::new(&[2, 0]).read::<Option<u8>>(),
            Err(Error::Decode)
        );
        assert_eq!(Reader::new(&[5, b'a']).read::<&[u8]>(), Err(Error::Decode));
        assert_eq!(
            Reader::new(&[2, 0xff, 0xfe]).read::<&str>(),
            Err(Error::Decode)
        );
        assert_eq!(Reader::new(&[2]).read::<Mem>(), Err(Error::Decode));
        assert_eq!(Reader::new(&[20]).read::<Op>(), Err(Error::Decode));
    }

    /// `ConvI8::packed` was appended in format 1.3: a record of an older file
    /// ends before it and reads as `None`; a newer one reads as postcard
    /// wrote it.
    #[test]
    fn records_before_packed_weights_read_as_none() {
        let buf = |offset| Buf {
            mem: Mem::Blob,
            offset,
            len: 16,
        };
        let g = ConvGeom {
            n: 1,
            in_h: 4,
            in_w: 4,
            in_c: 1,
            out_h: 4,
            out_w: 4,
            out_c: 1,
            k_h: 1,
            k_w: 1,
            stride_h: 1,
            stride_w: 1,
            dil_h: 1,
            dil_w: 1,
            pad_top: 0,
            pad_left: 0,
            groups: 1,
        };
        let packed = PackedWeights {
            kind: PackKind::Avx2I16,
            buf: buf(64),
        };
        let conv = ConvI8 {
            geom: g,
            input: buf(0),
            weights: buf(16),
            bias: None,
            output: buf(32),
            input_offset: 3,
            weight_offset: 0,
            rq: Requant {
                mult: buf(48),
                shift: buf(48),
                output_offset: -1,
                act_min: -128,
                act_max: 127,
            },
            packed: Some(packed),
        };
        let op = Op::ConvI8(conv);
        let mut b = [0u8; 256];
        assert_eq!(roundtrip(&op, &mut b), Ok(op));
        let unpacked = Op::ConvI8(ConvI8 {
            packed: None,
            ..conv
        });
        let bytes = postcard::to_slice(&unpacked, &mut b).unwrap();
        // The `None` tag is the last byte: without it, a format 1.2 record.
        let (last, old) = bytes.split_last().unwrap();
        assert_eq!(*last, 0);
        assert_eq!(Reader::new(old).read::<Op>(), Ok(unpacked));
    }
}
