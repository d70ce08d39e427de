using SharpCnn.Kernels;
using SharpCnn.Layers;
using SharpCnn.Tensors;

namespace SharpCnn.Tests.Kernels;

/// <summary>The worker pool and the parallel kernels: every partition runs once, errors surface, and results never depend on the thread count.</summary>
[Collection(ThreadCountCollection.Name)]
public class ParallelismTests
{
    private ref struct Counting : IPartitionedWork
    {
        public Span<int> Hits;
        public int Throw;

        public readonly void Run(int partition)
        {
            Interlocked.Increment(ref Hits[partition]);
            if (partition == Throw) throw new InvalidOperationException($"partition {partition} failed");
        }
    }

    private ref struct Where : IPartitionedWork
    {
        public Span<int> Thread;

        public readonly void Run(int partition)
        {
            Thread[partition] = Environment.CurrentManagedThreadId;
            System.Threading.Thread.SpinWait(2000); // long enough for a helper to take some partitions when it may
        }
    }

    [Fact]
    public async Task AThreadMarkedInlineRunsItsPartitionsItselfAndLeavesThePoolFree()
    {
        using var scope = new ThreadCountScope(2);
        int[] threads = await Task.Factory.StartNew(() =>
        {
            Parallelism.InlineOnThisThread = true;
            try
            {
                int[] where = new int[64];
                var work = new Where { Thread = where };
                Parallelism.For(where.Length, ref work);
                return where;
            }
            finally
            {
                Parallelism.InlineOnThisThread = false;
            }
        }, TestContext.Current.CancellationToken, TaskCreationOptions.LongRunning, TaskScheduler.Default);
        Assert.Single(threads.Distinct()); // every partition on the marked thread
        Assert.False(Parallelism.InlineOnThisThread); // per thread: this one was never marked
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(5)]
    public void EveryPartitionRunsExactlyOnce(int threads)
    {
        using var scope = new ThreadCountScope(threads);
        foreach (int partitions in new[] { 0, 1, 2, 3, 17, 200 })
        {
            for (int repeat = 0; repeat < 20; repeat++)
            {
                int[] hits = new int[partitions];
                var work = new Counting { Hits = hits, Throw = -1 };
                Parallelism.For(partitions, ref work);
                Assert.All(hits, h => Assert.Equal(1, h));
            }
        }
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void AnOwnedJobRunsEveryPartitionOnceAndEachBlockOnTheSameThreadEveryTime(int threads)
    {
        using var scope = new ThreadCountScope(threads);
        foreach (int partitions in new[] { 0, 1, 2, 3, 4, 7, 12 })
        {
            int[]? first = null;
            for (int repeat = 0; repeat < 20; repeat++)
            {
                int[] hits = new int[partitions];
                var count = new Counting { Hits = hits, Throw = -1 };
                Parallelism.ForOwned(partitions, ref count);
                Assert.All(hits, h => Assert.Equal(1, h));

                int[] where = new int[partitions];
                var work = new Where { Thread = where };
                Parallelism.ForOwned(partitions, ref work);
                if (partitions < 2) continue;
                // Thread t runs Range(partitions, threads, t): the caller the first block, a helper each other block.
                for (int t = 0; t < threads; t++)
                {
                    var (start, length) = Parallelism.Range(partitions, threads, t);
                    if (length == 0) continue;
                    Assert.All(where.AsSpan(start, length).ToArray(), id => Assert.Equal(where[start], id));
                    if (t == 0) Assert.Equal(Environment.CurrentManagedThreadId, where[start]);
                    else Assert.NotEqual(Environment.CurrentManagedThreadId, where[start]);
                }
                Assert.Equal(Math.Min(threads, partitions), where.Distinct().Count());
                first ??= where;
                Assert.Equal(first, where); // the same owners in every job of this many partitions
            }
        }
    }

    [Fact]
    public void AnExceptionInAnOwnedPartitionReachesTheCallerAfterTheOthersFinish()
    {
        using var scope = new ThreadCountScope(3);
        int[] hits = new int[9];
        var error = Assert.Throws<InvalidOperationException>(() =>
        {
            var work = new Counting { Hits = hits, Throw = 4 }; // the second helper's first partition
            Parallelism.ForOwned(9, ref work);
        });
        Assert.Contains("partition 4", error.Message);
        Assert.All(hits, h => Assert.Equal(1, h));
        int[] again = new int[5];
        var next = new Counting { Hits = again, Throw = -1 };
        Parallelism.ForOwned(5, ref next);
        Assert.All(again, h => Assert.Equal(1, h));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    public void AnExceptionInAPartitionReachesTheCallerAfterTheOthersFinish(int threads)
    {
        using var scope = new ThreadCountScope(threads);
        int[] hits = new int[40];
        var error = Assert.Throws<InvalidOperationException>(() =>
        {
            var work = new Counting { Hits = hits, Throw = 7 };
            Parallelism.For(40, ref work);
        });
        Assert.Contains("partition 7", error.Message);
        if (threads > 1) Assert.All(hits, h => Assert.Equal(1, h));
        // The pool is usable afterwards.
        int[] again = new int[10];
        var next = new Counting { Hits = again, Throw = -1 };
        Parallelism.For(10, ref next);
        Assert.All(again, h => Assert.Equal(1, h));
    }

    /// <summary>Background pieces that record which thread ran each and how often; piece <see cref="Throw"/> fails.</summary>
    private sealed class Pieces(int count, int throwAt = -1) : BackgroundWork
    {
        private int next;

        public int[] Hits { get; } = new int[count];

        public int[] Thread { get; } = new int[count];

        public int Throw { get; } = throwAt;

        public override bool TryRunPiece()
        {
            int i = Interlocked.Increment(ref next) - 1;
            if (i >= Hits.Length) return false;
            Interlocked.Increment(ref Hits[i]);
            Thread[i] = Environment.CurrentManagedThreadId;
            System.Threading.Thread.SpinWait(500);
            if (i == Throw) throw new InvalidOperationException($"piece {i} failed");
            return true;
        }
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void BackgroundPiecesRunOnceEachOnTheHelpersBesideTheJobsAndTheRestAtFinish(int threads)
    {
        using var scope = new ThreadCountScope(threads);
        for (int repeat = 0; repeat < 10; repeat++)
        {
            var pieces = new Pieces(300);
            int caller = Environment.CurrentManagedThreadId;
            Parallelism.BeginBackground(pieces);
            int[] during;
            try
            {
                foreach (int partitions in new[] { 1, 2, 5, 64 })
                {
                    int[] where = new int[partitions];
                    var work = new Where { Thread = where };
                    Parallelism.For(partitions, ref work);
                    Assert.All(where, t => Assert.NotEqual(0, t)); // every partition ran
                }
                during = (int[])pieces.Hits.Clone();
                // Inside its jobs the caller only takes partitions: any piece run so far ran on a helper.
                for (int i = 0; i < during.Length; i++)
                    if (during[i] > 0) Assert.NotEqual(caller, pieces.Thread[i]);
                if (threads == 1) Assert.All(during, h => Assert.Equal(0, h)); // no helper, nothing beside
            }
            finally
            {
                Parallelism.FinishBackground(pieces);
            }
            Assert.All(pieces.Hits, h => Assert.Equal(1, h));
            // After Finish the thread's jobs carry no background work: another can begin.
            var again = new Pieces(3);
            Parallelism.BeginBackground(again);
            Parallelism.FinishBackground(again);
            Assert.All(again.Hits, h => Assert.Equal(1, h));
        }
    }

    [Fact]
    public void AFailingPieceReachesTheCallerAndBackgroundWorkIsOnePerThread()
    {
        using var scope = new ThreadCountScope(2);
        var pieces = new Pieces(50, throwAt: 20);
        Parallelism.BeginBackground(pieces);
        Assert.Throws<InvalidOperationException>(() => Parallelism.BeginBackground(new Pieces(1)));
        Assert.Throws<InvalidOperationException>(() => Parallelism.FinishBackground(new Pieces(1)));
        var error = Assert.Throws<InvalidOperationException>(() => Parallelism.FinishBackground(pieces));
        Assert.Contains("piece 20", error.Message);
        Assert.All(pieces.Hits, h => Assert.Equal(1, h)); // the others still ran
        // Abandoned work is dropped without running its pieces, and the pool goes on.
        var dropped = new Pieces(5);
        Parallelism.BeginBackground(dropped);
        Parallelism.AbandonBackground();
        int[] hits = new int[10];
        var work = new Counting { Hits = hits, Throw = -1 };
        Parallelism.For(10, ref work);
        Assert.All(hits, h => Assert.Equal(1, h));
        Assert.All(dropped.Hits, h => Assert.Equal(0, h));
    }

    [Fact]
    public async Task CallersOnSeveralThreadsAtOnceAllGetTheirWorkDone()
    {
        using var scope = new ThreadCountScope(2);
        var tasks = Enumerable.Range(0, 4).Select(_ => Task.Run(() =>
        {
            for (int repeat = 0; repeat < 200; repeat++)
            {
                int[] hits = new int[9];
                var work = new Counting { Hits = hits, Throw = -1 };
                Parallelism.For(9, ref work);
                if (hits.Any(h => h != 1)) return false;
            }
            return true;
        })).ToArray();
        bool[] results = await Task.WhenAll(tasks);
        Assert.All(results, Assert.True);
    }

    [Theory]
    [InlineData(false, false, 64, 1024, 300)]
    [InlineData(true, false, 129, 3136, 64)]
    [InlineData(false, true, 7, 1000, 257)]
    [InlineData(true, true, 1, 97, 40)]
    public void ParallelGemmIsBitIdenticalToOneThread(bool transA, bool transB, int m, int n, int k)
    {
        var random = new Random(m + n + k);
        float[] a = Enumerable.Range(0, m * k).Select(_ => (float)random.NextDouble() - 0.5f).ToArray();
        float[] b = Enumerable.Range(0, k * n).Select(_ => (float)random.NextDouble() - 0.5f).ToArray();
        float[] c0 = Enumerable.Range(0, m * n).Select(_ => (float)random.NextDouble()).ToArray();
        float[] Run(int threads)
        {
            using var scope = new ThreadCountScope(threads);
            float[] c = (float[])c0.Clone();
            ParallelGemm.Multiply<float>(transA, transB, m, n, k, a, transA ? m : k, b, transB ? k : n, c, n, accumulate: true);
            return c;
        }
        float[] one = Run(1);
        Assert.True(one.AsSpan().SequenceEqual(Run(2)), "2 threads differ from 1");
        Assert.True(one.AsSpan().SequenceEqual(Run(3)), "3 threads differ from 1");
    }

    [Theory]
    [InlineData(1, 3, 9, 9, 8, 3, 3, 1)]
    [InlineData(2, 1, 28, 28, 32, 5, 5, 1)]
    [InlineData(17, 4, 11, 7, 6, 3, 2, 2)]
    [InlineData(3, 5, 6, 6, 4, 1, 1, 1)]
    public void ConvolutionIsBitIdenticalOnAnyThreadCount(int n, int cin, int h, int w, int cout, int kh, int kw, int stride)
    {
        (float[] Y, float[] Dx, float[] Dw, float[] Db) Run(int threads)
        {
            using var scope = new ThreadCountScope(threads);
            var conv = new Conv2d<float>(cout, kh, kw, stride, Padding.Same);
            conv.Build(new Shape(cin, h, w));
            var random = new Rng(5);
            for (int i = 0; i < conv.Weight.Length; i++) conv.Weight.Value[i] = (float)random.NextDouble() - 0.5f;
            for (int i = 0; i < cout; i++) conv.Bias.Value[i] = (float)random.NextDouble();
            conv.Reserve(n);
            float[] x = Enumerable.Range(0, n * conv.InputShape.Size).Select(_ => (float)random.NextDouble() - 0.5f).ToArray();
            float[] y = new float[n * conv.OutputShape.Size], dy = y.Select(_ => (float)random.NextDouble() - 0.5f).ToArray();
            float[] dx = new float[x.Length];
            conv.Forward(x, y, n);
            conv.Backward(x, y, dy, dx, n);
            conv.Backward(x, y, dy, dx, n); // gradients accumulate
            return (y, dx, (float[])conv.Weight.Gradient.Clone(), (float[])conv.Bias.Gradient.Clone());
        }
        var one = Run(1);
        foreach (int threads in new[] { 2, 3 })
        {
            var many = Run(threads);
            Assert.True(one.Y.AsSpan().SequenceEqual(many.Y), $"y differs on {threads} threads");
            Assert.True(one.Dx.AsSpan().SequenceEqual(many.Dx), $"dx differs on {threads} threads");
            Assert.True(one.Dw.AsSpan().SequenceEqual(many.Dw), $"dw differs on {threads} threads");
            Assert.True(one.Db.AsSpan().SequenceEqual(many.Db), $"db differs on {threads} threads");
        }
    }
}
