// Parallelism: the one place that sets how many threads SharpCnn's kernels use, and the small
// persistent worker pool that runs them.
//
// Determinism. Work handed to the pool is split into numbered partitions whose arithmetic never
// depends on how many threads run them or which thread runs which: a partition writes only its
// own outputs (its samples, its columns of a matrix product) and any sum over a batch is either
// done by a fixed chunking reduced in a fixed order, or is the depth of one matrix product whose
// output columns are split (Gemm computes any column range bit-identically). So 1 thread and N
// threads give bit-identical results, and only the wall time changes.
//
// The pool. ThreadCount - 1 helper threads are started once and wait for jobs; the calling
// thread takes part in every job. A job is a ref struct body (which may hold spans) on the
// caller's stack and a partition count; every thread takes the next partition number from a
// shared counter until none are left, then the caller waits for the helpers to finish theirs.
// Nothing is allocated per job: the body is passed by address (the caller's frame stays alive
// and the GC keeps tracking what it references while the caller waits), and the pool's state is
// plain fields. Helpers spin briefly after a job (the next one usually follows within
// microseconds in a training step) and then sleep on a monitor.
//
// Work beside the jobs. A thread may hand the pool a BackgroundWork (BeginBackground): pieces that may run at any
// time until FinishBackground, in any order (a training step's update of the layers whose gradients are final, while
// the layers below go backward). While one of that thread's jobs runs, a helper takes a ready piece instead of the
// job's next partition as long as the job has more partitions left than threads, so the caller never runs dry
// waiting for it; a memory-bound piece then runs beside the job's compute-bound partitions. FinishBackground runs
// what is left on every thread. The pieces' results do not depend on where or when they run, only the time does.
//
// Jobs with owners. For (above) hands partitions out as threads ask, so which thread runs a partition changes from
// job to job. ForOwned gives each thread a fixed block instead: with T threads, thread t (the caller is 0, helper i is
// i + 1) runs partitions Range(partitions, T, t), in every job of that many partitions. A kernel that cuts the same
// data into the same partitions on every call (a dense layer's weight rows at batch 1: the forward product, then the
// backward pass that updates them) then has each thread touch the same memory every time. On a CPU whose cores do
// not share a last-level cache (two chiplets or sockets) the rows stay in their owner's cache, instead of crossing
// between the caches on every pass, which costs far more than the arithmetic. No thread takes another's block, so
// owned jobs suit partitions of equal work; the results are the same as For's (a partition does the same arithmetic
// wherever it runs).
//
// Re-entrance. One job runs at a time. A job started while another is running (from a second
// thread, or from inside a partition) runs all its partitions inline on its own thread, which
// gives the same results, so concurrent callers (e.g. tests running in parallel) stay correct.
using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.ExceptionServices;

namespace SharpCnn.Kernels;

/// <summary>A body of parallel work: <see cref="Run"/> does partition <c>0 .. count-1</c>, in any order, on any thread.</summary>
internal interface IPartitionedWork
{
    /// <summary>Does partition <paramref name="partition"/>. Must write only outputs no other partition writes.</summary>
    void Run(int partition);
}

/// <summary>
/// Work in pieces that helper threads take up between the partitions of the jobs the owning thread starts
/// (<see cref="Parallelism.BeginBackground"/>), the rest at <see cref="Parallelism.FinishBackground"/>.
/// </summary>
internal abstract class BackgroundWork
{
    /// <summary>Runs one ready piece and returns true, or returns false when no piece is ready (now). Safe to call from any thread at once.</summary>
    public abstract bool TryRunPiece();
}

/// <summary>
/// How many threads SharpCnn's kernels and layers run on (<see cref="ThreadCount"/>), for the whole
/// process. Results never depend on it: training with 1 thread and with N threads gives
/// bit-identical weights.
/// </summary>
public static class Parallelism
{
    private static readonly object s_configure = new();
    private static int s_threadCount = DefaultThreadCount;
    private static WorkerPool? s_pool;
    private static int s_busy;
    [ThreadStatic] private static bool t_inline;
    [ThreadStatic] private static BackgroundWork? t_background;

    /// <summary>The default thread count: one per processor the process may run on.</summary>
    public static int DefaultThreadCount => Math.Clamp(Environment.ProcessorCount, 1, MaxThreads);

    /// <summary>The largest thread count accepted.</summary>
    public const int MaxThreads = 256;

    /// <summary>
    /// Threads used by the kernels (the calling thread plus ThreadCount - 1 helpers), 1 .. <see cref="MaxThreads"/>.
    /// Defaults to <see cref="DefaultThreadCount"/>. Changing it between training steps is allowed and
    /// changes only the speed, never the results.
    /// </summary>
    public static int ThreadCount
    {
        get => Volatile.Read(ref s_threadCount);
        set
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(value, 1);
            ArgumentOutOfRangeException.ThrowIfGreaterThan(value, MaxThreads);
            Volatile.Write(ref s_threadCount, value);
        }
    }

    /// <summary>
    /// True on a thread whose kernels must run all their partitions on that thread, never on the worker pool: for a
    /// thread working beside training (e.g. one that draws pictures of a copy of the network at a low priority), which
    /// would otherwise take the pool's helpers from the training thread while it holds the pool, and keep it while it
    /// waits for a core. Per thread, false by default. Results do not change, only which thread does the work.
    /// </summary>
    public static bool InlineOnThisThread
    {
        get => t_inline;
        set => t_inline = value;
    }

    /// <summary>
    /// Runs <paramref name="body"/>.Run(p) for every p in 0 .. <paramref name="partitions"/> - 1 on up to
    /// <see cref="ThreadCount"/> threads and returns when all are done. The first exception a partition
    /// throws is rethrown here (after the other partitions have finished). <paramref name="body"/> must be
    /// a local variable of the caller (it is read through its address by the helper threads).
    /// </summary>
    internal static void For<TWork>(int partitions, ref TWork body)
        where TWork : IPartitionedWork, allows ref struct => Start(partitions, ref body, owned: false);

    /// <summary>
    /// Runs <paramref name="body"/>.Run(p) for every p in 0 .. <paramref name="partitions"/> - 1 as <see cref="For{TWork}"/>
    /// does, but with fixed owners: with T = <see cref="ThreadCount"/> threads, thread t (the caller is 0) runs the block
    /// <see cref="Range"/>(<paramref name="partitions"/>, T, t), the same in every such job (see the top of this file).
    /// Background work is not run during it.
    /// </summary>
    internal static void ForOwned<TWork>(int partitions, ref TWork body)
        where TWork : IPartitionedWork, allows ref struct => Start(partitions, ref body, owned: true);

    /// <summary><see cref="For{TWork}"/> or, with <paramref name="owned"/>, <see cref="ForOwned{TWork}"/>; <paramref name="body"/> is the caller's local.</summary>
    private static unsafe void Start<TWork>(int partitions, ref TWork body, bool owned)
        where TWork : IPartitionedWork, allows ref struct
    {
        if (partitions <= 0) return;
        int threads = ThreadCount;
        if (partitions == 1 || threads == 1 || t_inline || Interlocked.CompareExchange(ref s_busy, 1, 0) != 0)
        {
            for (int p = 0; p < partitions; p++) body.Run(p);
            return;
        }
        try
        {
            WorkerPool pool = PoolFor(threads);
            // With work beside the job, every helper takes part: one may spend the job on the background pieces. With owners,
            // every thread has its block (and the background work waits for the next job).
            BackgroundWork? beside = owned ? null : t_background;
            int helpers = beside is null && !owned ? Math.Min(threads - 1, partitions - 1) : threads - 1;
            pool.Run(partitions, helpers, &Invoke<TWork>, (nint)Unsafe.AsPointer(ref body), beside, owned);
        }
        finally
        {
            Volatile.Write(ref s_busy, 0);
        }
    }

    /// <summary>
    /// Hands <paramref name="work"/> to the helpers of the jobs this thread starts until <see cref="FinishBackground"/>: they run
    /// its ready pieces beside the jobs' partitions (see the top of this file). One at a time per thread.
    /// </summary>
    internal static void BeginBackground(BackgroundWork work)
    {
        ArgumentNullException.ThrowIfNull(work);
        if (t_background is not null) throw new InvalidOperationException("this thread already has background work");
        t_background = work;
    }

    /// <summary>
    /// Runs every piece of <paramref name="work"/> still ready (all should be by now) on up to <see cref="ThreadCount"/> threads and
    /// returns when all pieces taken are done; this thread's jobs stop carrying it.
    /// </summary>
    internal static void FinishBackground(BackgroundWork work)
    {
        if (t_background != work) throw new InvalidOperationException("this thread's background work is another");
        t_background = null;
        var drain = new DrainWork { Work = work };
        For(Math.Max(1, ThreadCount), ref drain);
    }

    /// <summary>Drops this thread's background work without running its remaining pieces (after a failure: none is running, since pieces run only inside this thread's jobs).</summary>
    internal static void AbandonBackground() => t_background = null;

    private ref struct DrainWork : IPartitionedWork
    {
        public BackgroundWork Work;

        public readonly void Run(int partition)
        {
            while (Work.TryRunPiece())
            {
            }
        }
    }

    /// <summary>
    /// How many ranges to cut an element-wise pass over <paramref name="length"/> values into: one per
    /// 16 K values, at most two per thread, one on a single thread. (Element-wise results do not depend
    /// on the split.)
    /// </summary>
    internal static int ElementParts(int length)
    {
        int threads = ThreadCount;
        return threads == 1 ? 1 : Math.Clamp(length / 16384, 1, 2 * threads);
    }

    /// <summary>The part of <paramref name="total"/> items that partition <paramref name="index"/> of <paramref name="parts"/> equal parts gets.</summary>
    internal static (int Start, int Count) Range(int total, int parts, int index)
    {
        int baseSize = total / parts, extra = total % parts;
        int start = index * baseSize + Math.Min(index, extra);
        return (start, baseSize + (index < extra ? 1 : 0));
    }

    /// <summary>
    /// The part of <paramref name="total"/> items that partition <paramref name="index"/> of <paramref name="parts"/>
    /// gets when every part but the last is a multiple of <paramref name="multiple"/> (for column ranges of whole tiles).
    /// </summary>
    internal static (int Start, int Count) AlignedRange(int total, int parts, int index, int multiple)
    {
        int units = (total + multiple - 1) / multiple;
        var (start, count) = Range(units, parts, index);
        int first = Math.Min(total, start * multiple), end = Math.Min(total, (start + count) * multiple);
        return (first, end - first);
    }

    private static unsafe void Invoke<TWork>(nint body, int partition)
        where TWork : IPartitionedWork, allows ref struct
        => Unsafe.AsRef<TWork>((void*)body).Run(partition);

    private static WorkerPool PoolFor(int threads)
    {
        WorkerPool? pool = s_pool;
        if (pool is not null && pool.Helpers >= threads - 1) return pool;
        lock (s_configure)
        {
            // Only ever grows: helpers beyond the current thread count simply are not given work.
            if (s_pool is null || s_pool.Helpers < threads - 1) s_pool = new WorkerPool(threads - 1, s_pool);
            return s_pool;
        }
    }

    /// <summary>Helper threads waiting for jobs; see the top of this file.</summary>
    private sealed unsafe class WorkerPool
    {
        private static readonly long SpinTicks = Stopwatch.Frequency / 4000; // 250 µs of spinning before sleeping
        private readonly object gate = new();
        private readonly Thread[] threads;
        private int generation;
        private int sleepers;
        private delegate*<nint, int, void> body;
        private nint state;
        private int partitions;
        private int next;
        private int active;
        private int pending;
        private BackgroundWork? background;
        private ExceptionDispatchInfo? error;
        private int owners; // threads that own blocks of the job's partitions (ForOwned), 0 for a shared counter

        public WorkerPool(int helpers, WorkerPool? previous)
        {
            previous?.Retire();
            threads = new Thread[helpers];
            for (int i = 0; i < helpers; i++)
            {
                int index = i;
                // The helper starts from generation 0, not from whatever it reads once it runs: a thread can
                // start late, after the first job was published, and must not take that job for an old one.
                threads[i] = new Thread(() => HelperLoop(index, 0)) { IsBackground = true, Name = $"SharpCnn worker {i + 1}" };
                threads[i].Start();
            }
        }

        public int Helpers => threads.Length;

        private bool retired;

        private void Retire()
        {
            lock (gate)
            {
                retired = true;
                Interlocked.Increment(ref generation);
                Monitor.PulseAll(gate);
            }
        }

        public void Run(int partitionCount, int helpers, delegate*<nint, int, void> work, nint workState, BackgroundWork? beside, bool owned)
        {
            body = work;
            state = workState;
            partitions = partitionCount;
            owners = owned ? helpers + 1 : 0;
            next = 0;
            background = beside;
            error = null;
            active = helpers;
            pending = helpers;
            Interlocked.Increment(ref generation); // publishes the job (full fence)
            if (Volatile.Read(ref sleepers) > 0)
            {
                lock (gate) Monitor.PulseAll(gate);
            }
            Work(null, 0, 0);
            var spinner = new SpinWait();
            while (Volatile.Read(ref pending) > 0) spinner.SpinOnce(sleep1Threshold: -1);
            body = null;
            state = 0;
            background = null;
            error?.Throw();
        }

        /// <summary>
        /// Takes the job's partitions until none is left; a helper given <paramref name="beside"/> first runs its ready pieces while more than
        /// <paramref name="threads"/> partitions are left. In a job with owners, runs the block of thread <paramref name="self"/> instead.
        /// </summary>
        private void Work(BackgroundWork? beside, int threads, int self)
        {
            if (owners > 0)
            {
                WorkOwned(self);
                return;
            }
            int total = partitions;
            delegate*<nint, int, void> run = body;
            nint argument = state;
            while (true)
            {
                try
                {
                    if (beside is not null && total - Volatile.Read(ref next) > threads && beside.TryRunPiece()) continue;
                    int p = Interlocked.Increment(ref next) - 1;
                    if (p >= total) return;
                    run(argument, p);
                }
                catch (Exception e)
                {
                    Interlocked.CompareExchange(ref error, ExceptionDispatchInfo.Capture(e), null);
                }
            }
        }

        /// <summary>Runs the block of the job's partitions that thread <paramref name="self"/> owns (<see cref="ForOwned{TWork}"/>).</summary>
        private void WorkOwned(int self)
        {
            delegate*<nint, int, void> run = body;
            nint argument = state;
            var (first, count) = Range(partitions, owners, self);
            for (int p = first; p < first + count; p++)
            {
                try
                {
                    run(argument, p);
                }
                catch (Exception e)
                {
                    Interlocked.CompareExchange(ref error, ExceptionDispatchInfo.Capture(e), null);
                }
            }
        }

        private void HelperLoop(int index, int seen)
        {
            while (true)
            {
                seen = WaitForJob(seen);
                if (Volatile.Read(ref retired)) return;
                if (index < Volatile.Read(ref active))
                {
                    Work(background, Volatile.Read(ref active) + 1, index + 1);
                    Interlocked.Decrement(ref pending);
                }
            }
        }

        private int WaitForJob(int seen)
        {
            long start = Stopwatch.GetTimestamp();
            int spins = 0;
            while (Volatile.Read(ref generation) == seen)
            {
                if (++spins < 64 || Stopwatch.GetTimestamp() - start < SpinTicks)
                {
                    Thread.SpinWait(20);
                    continue;
                }
                lock (gate)
                {
                    Interlocked.Increment(ref sleepers); // full fence before re-reading generation
                    while (Volatile.Read(ref generation) == seen) Monitor.Wait(gate);
                    Interlocked.Decrement(ref sleepers);
                }
            }
            return Volatile.Read(ref generation);
        }
    }
}
