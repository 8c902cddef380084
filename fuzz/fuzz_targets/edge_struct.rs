//! Structure-aware fuzzing of the `.edge` validator and interpreter: decode a
//! valid model (one of the seeds), apply a list of field-level mutations to its
//! operators, tensor descriptors and arena size (any integer, float or bool
//! field, enum variants, copying one field into another, reordering,
//! duplicating and dropping operators), write it back with a correct checksum
//! and run it. Everything must end in a typed error or a completed run.
#![no_main]

use arbitrary::Arbitrary;
use ciborium::Value;
use edgerun::Model;
use edgerun::format::schema::{Buf, DType, Op, OpRecord, QParams, Shape, TensorDesc};
use edgerun::format::write::{AlignedBytes, ModelParts, write_model};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

const SEEDS: &[&[u8]] = &[
    include_bytes!("../corpus/edge_raw/lenet5.edge"),
    include_bytes!("../corpus/edge_raw/nms.edge"),
    include_bytes!("../corpus/edge_raw/cnn_bn.edge"),
    include_bytes!("../corpus/edge_raw/concat_softmax.edge"),
    include_bytes!("../corpus/edge_raw/qdq_conv_relu_u8.edge"),
    include_bytes!("../corpus/edge_raw/qdq_matmul_mul_s8.edge"),
    include_bytes!("../corpus/edge_raw/qdq_pool_concat_s8.edge"),
    include_bytes!("../corpus/edge_raw/qdq_resnet_block_s8.edge"),
    include_bytes!("../corpus/edge_raw/ort_concat_softmax_qoperator_u8s8.edge"),
    include_bytes!("../corpus/edge_raw/ort_qoperator_u8s8.edge"),
];

/// A tensor descriptor without its name: (dtype, shape, quant, buf).
type Desc = (DType, Shape, Option<QParams>, Buf);

/// A seed model taken apart: names stay fixed, the rest is one value tree.
struct Seed {
    name: String,
    input_names: Vec<String>,
    output_names: Vec<String>,
    op_names: Vec<String>,
    /// `[arena_bytes, [input desc..], [output desc..], [op..]]`.
    tree: Value,
    blob: Vec<u8>,
}

fn desc_of(d: &TensorDesc<'_>) -> Desc {
    (d.dtype, d.shape, d.quant, d.buf)
}

fn to_value<T: serde::Serialize>(v: &T) -> Value {
    Value::serialized(v).unwrap_or(Value::Null)
}

fn take_apart(bytes: &[u8]) -> Seed {
    let aligned = AlignedBytes::new(bytes);
    let m = Model::parse(&aligned).expect("seeds are valid models");
    let blob_at = u32::from_le_bytes(bytes[24..28].try_into().unwrap()) as usize;
    let blob_len = u32::from_le_bytes(bytes[28..32].try_into().unwrap()) as usize;
    let inputs: Vec<TensorDesc<'_>> = (0..m.num_inputs()).map(|i| m.input(i).unwrap()).collect();
    let outputs: Vec<TensorDesc<'_>> = (0..m.num_outputs()).map(|i| m.output(i).unwrap()).collect();
    let ops: Vec<OpRecord<'_>> = m.ops().map(|r| r.unwrap()).collect();
    let tree = Value::Array(vec![
        to_value(&(m.arena_bytes() as u32)),
        Value::Array(inputs.iter().map(|d| to_value(&desc_of(d))).collect()),
        Value::Array(outputs.iter().map(|d| to_value(&desc_of(d))).collect()),
        Value::Array(ops.iter().map(|r| to_value(&r.op)).collect()),
    ]);
    Seed {
        name: m.name().to_string(),
        input_names: inputs.iter().map(|d| d.name.to_string()).collect(),
        output_names: outputs.iter().map(|d| d.name.to_string()).collect(),
        op_names: ops.iter().map(|r| r.name.to_string()).collect(),
        tree,
        blob: bytes[blob_at..blob_at + blob_len].to_vec(),
    }
}

fn seeds() -> &'static [Seed] {
    static S: OnceLock<Vec<Seed>> = OnceLock::new();
    S.get_or_init(|| SEEDS.iter().map(|b| take_apart(b)).collect())
}

#[derive(Arbitrary, Debug)]
enum Val {
    /// Add a small delta to the current value.
    Delta(i8),
    /// A boundary value from [`EDGES`].
    Edge(u8),
    U32(u32),
    I32(i32),
    F32(f32),
    /// A special float from [`SPECIAL_F`].
    SpecialF(u8),
    /// Another enum variant name from [`VARIANTS`].
    Variant(u8),
}

const EDGES: &[i128] = &[
    0,
    1,
    2,
    3,
    4,
    7,
    8,
    15,
    16,
    17,
    31,
    32,
    33,
    63,
    64,
    127,
    128,
    255,
    256,
    4096,
    65535,
    65536,
    -1,
    -2,
    -127,
    -128,
    -129,
    -255,
    0x7fff_ffff,
    -0x8000_0000,
    0x8000_0000,
    0xffff_ffff,
];
const SPECIAL_F: &[f32] = &[
    f32::NAN,
    f32::INFINITY,
    f32::NEG_INFINITY,
    0.0,
    -0.0,
    1e-45,
    1e-38,
    f32::MAX,
    f32::MIN,
    1e30,
    -1e30,
    0.5,
    1.0,
    -1.0,
];
const VARIANTS: &[&str] = &[
    "F32", "I8", "U8", "I32", "Arena", "Blob", "Max", "Avg", "Add", "Sub", "Mul", "Div", "Min",
    "Clamp", "Sigmoid", "Tanh", "Exp", "Neg", "Abs",
];

#[derive(Arbitrary, Debug)]
enum Mutation {
    Set { leaf: u16, value: Val },
    Copy { from: u16, to: u16 },
    SwapOps(u8, u8),
    DupOp(u8),
    DropOp(u8),
}

#[derive(Arbitrary, Debug)]
struct Input {
    seed: u8,
    fill: u8,
    mutations: Vec<Mutation>,
}

fn is_variant_key(k: &Value) -> bool {
    matches!(k, Value::Text(t) if VARIANTS.contains(&t.as_str()))
}

/// Number of scalar leaves: integers, floats, bools, unit enum variants, and
/// the keys that name the variant of an enum with data (`{ "Variant": .. }`).
fn count_leaves(v: &Value) -> usize {
    match v {
        Value::Array(items) => items.iter().map(count_leaves).sum(),
        Value::Map(entries) => entries
            .iter()
            .map(|(k, x)| usize::from(is_variant_key(k)) + count_leaves(x))
            .sum(),
        Value::Integer(_) | Value::Float(_) | Value::Bool(_) | Value::Text(_) => 1,
        _ => 0,
    }
}

/// Leaf `n` in the order [`count_leaves`] counts them.
fn nth_leaf<'v>(v: &'v mut Value, n: &mut usize) -> Option<&'v mut Value> {
    match v {
        Value::Array(items) => items.iter_mut().find_map(|x| nth_leaf(x, n)),
        Value::Map(entries) => entries.iter_mut().find_map(|(k, x)| {
            if is_variant_key(k) {
                if *n == 0 {
                    return Some(k);
                }
                *n -= 1;
            }
            nth_leaf(x, n)
        }),
        Value::Integer(_) | Value::Float(_) | Value::Bool(_) | Value::Text(_) => {
            if *n == 0 {
                Some(v)
            } else {
                *n -= 1;
                None
            }
        }
        _ => None,
    }
}

fn leaf(tree: &mut Value, i: u16) -> Option<&mut Value> {
    let count = count_leaves(tree);
    if count == 0 {
        return None;
    }
    nth_leaf(tree, &mut (i as usize % count))
}

fn pick<T: Copy>(table: &[T], i: u8) -> T {
    table[i as usize % table.len()]
}

fn set(leaf: &mut Value, val: &Val) {
    *leaf = match (&*leaf, val) {
        (Value::Bool(b), _) => Value::Bool(!b),
        (Value::Text(_), v) => {
            let i = match v {
                Val::Variant(i) | Val::Edge(i) | Val::SpecialF(i) => *i,
                _ => 0,
            };
            Value::Text(pick(VARIANTS, i).to_string())
        }
        (Value::Float(f), v) => Value::Float(match v {
            Val::Delta(d) => f * (1.0 + *d as f64 / 16.0),
            Val::F32(x) => *x as f64,
            Val::SpecialF(i) => pick(SPECIAL_F, *i) as f64,
            Val::Edge(i) => pick(EDGES, *i) as f64,
            Val::U32(x) => f32::from_bits(*x) as f64,
            Val::I32(x) => *x as f64,
            Val::Variant(_) => -*f,
        }),
        (Value::Integer(n), v) => {
            let n = i128::from(*n);
            let new = match v {
                Val::Delta(d) => n + *d as i128,
                Val::Edge(i) => pick(EDGES, *i),
                Val::U32(x) => *x as i128,
                Val::I32(x) => *x as i128,
                Val::F32(x) => x.to_bits() as i128,
                Val::SpecialF(i) => 1i128 << (*i % 33),
                Val::Variant(i) => n * 2 + (*i as i128 % 3) - 1,
            };
            match ciborium::value::Integer::try_from(new) {
                Ok(i) => Value::Integer(i),
                Err(_) => return,
            }
        }
        _ => return,
    };
}

fn ops_of(tree: &mut Value) -> Option<&mut Vec<Value>> {
    match tree {
        Value::Array(top) => match top.get_mut(3) {
            Some(Value::Array(ops)) => Some(ops),
            _ => None,
        },
        _ => None,
    }
}

/// Apply the mutations; returns the op names in their new order.
fn mutate(tree: &mut Value, names: &[String], muts: &[Mutation]) -> Vec<String> {
    let mut names = names.to_vec();
    for m in muts.iter().take(16) {
        match m {
            Mutation::Set { leaf: i, value } => {
                if let Some(l) = leaf(tree, *i) {
                    set(l, value);
                }
            }
            Mutation::Copy { from, to } => {
                if let Some(v) = leaf(tree, *from).map(|l| l.clone())
                    && let Some(l) = leaf(tree, *to)
                    && std::mem::discriminant(&v) == std::mem::discriminant(l)
                {
                    *l = v;
                }
            }
            Mutation::SwapOps(a, b) => {
                if let Some(ops) = ops_of(tree)
                    && !ops.is_empty()
                {
                    let (a, b) = (*a as usize % ops.len(), *b as usize % ops.len());
                    ops.swap(a, b);
                    names.swap(a, b);
                }
            }
            Mutation::DupOp(a) => {
                if let Some(ops) = ops_of(tree)
                    && !ops.is_empty()
                    && ops.len() < 64
                {
                    let a = *a as usize % ops.len();
                    ops.insert(a, ops[a].clone());
                    names.insert(a, names[a].clone());
                }
            }
            Mutation::DropOp(a) => {
                if let Some(ops) = ops_of(tree)
                    && !ops.is_empty()
                {
                    let a = *a as usize % ops.len();
                    ops.remove(a);
                    names.remove(a);
                }
            }
        }
    }
    names
}

fn descs<'a>(v: &Value, names: &'a [String]) -> Option<Vec<TensorDesc<'a>>> {
    let Value::Array(items) = v else { return None };
    items
        .iter()
        .zip(names)
        .map(|(x, name)| {
            let (dtype, shape, quant, buf): Desc = x.deserialized().ok()?;
            Some(TensorDesc {
                name,
                dtype,
                shape,
                quant,
                buf,
            })
        })
        .collect()
}

fn rebuild(seed: &Seed, tree: &Value, op_names: &[String]) -> Option<Vec<u8>> {
    let Value::Array(top) = tree else { return None };
    let arena_bytes: u32 = top.first()?.deserialized().ok()?;
    let inputs = descs(top.get(1)?, &seed.input_names)?;
    let outputs = descs(top.get(2)?, &seed.output_names)?;
    let Value::Array(ops) = top.get(3)? else {
        return None;
    };
    let ops: Vec<OpRecord<'_>> = ops
        .iter()
        .zip(op_names)
        .map(|(v, name)| {
            Some(OpRecord {
                name,
                op: v.deserialized::<Op>().ok()?,
            })
        })
        .collect::<Option<_>>()?;
    write_model(&ModelParts {
        name: &seed.name,
        arena_bytes,
        inputs: &inputs,
        outputs: &outputs,
        ops: &ops,
        tensors: &[],
        blob: &seed.blob,
    })
    .ok()
}

fuzz_target!(|input: Input| {
    let all = seeds();
    let seed = &all[input.seed as usize % all.len()];
    let mut tree = seed.tree.clone();
    let names = mutate(&mut tree, &seed.op_names, &input.mutations);
    if let Some(bytes) = rebuild(seed, &tree, &names) {
        edgerun_fuzz::run_edge(&bytes, input.fill);
    }
});
