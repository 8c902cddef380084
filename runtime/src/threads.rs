//! Optional multi-threading on std targets (feature `threads`): the output
//! rows of an int8 convolution shared out across a thread pool
//! ([`crate::Interpreter::invoke_threaded`]). Each part is the same kernel on
//! a sub-geometry ([`crate::kernels::conv::rows_part`]), writing its own rows
//! of the output, so the bytes are those of one thread.

use crate::error::Error;
use std::vec::Vec;

/// Convolutions of fewer MACs per part than this stay on one thread: handing
/// a part to another thread costs a few microseconds.
pub const MIN_MACS_PER_PART: u64 = 150_000;

/// The calling thread and a pool of worker threads, for
/// [`crate::Interpreter::invoke_threaded`].
pub struct Threads {
    /// `count - 1` workers: the calling thread computes a part too.
    pool: Option<rayon_core::ThreadPool>,
    count: usize,
}

impl Threads {
    /// `count` threads (at least 1): the caller's and `count - 1` workers;
    /// [`Error::InvalidParameter`] when the operating system refuses them.
    pub fn new(count: usize) -> Result<Self, Error> {
        let count = count.max(1);
        let pool = match count {
            1 => None,
            _ => Some(
                rayon_core::ThreadPoolBuilder::new()
                    .num_threads(count - 1)
                    .thread_name(|i| std::format!("edgerun-{i}"))
                    .build()
                    .map_err(|_| Error::InvalidParameter)?,
            ),
        };
        Ok(Threads { pool, count })
    }

    /// Threads computing parts: the caller's and the workers.
    pub fn count(&self) -> usize {
        self.count
    }

    /// How many parts a convolution of `rows` output rows and `macs` MACs is
    /// cut into: at most one per thread and per row, and none under
    /// [`MIN_MACS_PER_PART`].
    pub(crate) fn parts(&self, rows: u32, macs: u64) -> u32 {
        let by_work = macs / MIN_MACS_PER_PART;
        let n = (self.count as u64).min(rows as u64).min(by_work).max(1);
        u32::try_from(n).unwrap_or(1)
    }

    /// `f` on every part: the first on the calling thread, the others in the
    /// workers; the first error, if any.
    pub(crate) fn run<T: Send>(
        &self,
        parts: Vec<T>,
        f: impl Fn(T) -> Result<(), Error> + Sync,
    ) -> Result<(), Error> {
        let Some(pool) = &self.pool else {
            // No workers: every part here, in order.
            return parts.into_iter().try_for_each(f);
        };
        let mut parts = parts.into_iter();
        let Some(first) = parts.next() else {
            return Ok(());
        };
        let mut results: Vec<Result<(), Error>> = parts.as_slice().iter().map(|_| Ok(())).collect();
        let f = &f;
        let mut mine = Ok(());
        pool.in_place_scope(|s| {
            for (part, r) in parts.zip(results.iter_mut()) {
                s.spawn(move |_| *r = f(part));
            }
            mine = f(first);
        });
        mine?;
        results.into_iter().collect()
    }
}
