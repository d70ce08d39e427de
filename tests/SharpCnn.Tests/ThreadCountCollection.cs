namespace SharpCnn.Tests;

/// <summary>
/// Tests that set <see cref="SharpCnn.Kernels.Parallelism.ThreadCount"/> (a process-wide setting) run in this
/// collection, one at a time and never beside another test, so the thread count each of them sets is the one
/// that runs and the worker pool is theirs alone.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class ThreadCountCollection
{
    public const string Name = "Thread count";
}

/// <summary>Sets <see cref="SharpCnn.Kernels.Parallelism.ThreadCount"/> and puts the old value back when disposed.</summary>
public sealed class ThreadCountScope : IDisposable
{
    private readonly int previous = SharpCnn.Kernels.Parallelism.ThreadCount;

    public ThreadCountScope(int threads) => SharpCnn.Kernels.Parallelism.ThreadCount = threads;

    public void Dispose() => SharpCnn.Kernels.Parallelism.ThreadCount = previous;
}
