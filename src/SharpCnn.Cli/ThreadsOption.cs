using System.CommandLine;
using SharpCnn.Kernels;

namespace SharpCnn.Cli;

/// <summary>The <c>--threads</c> option shared by train, eval, bench and experiments: sets <see cref="Parallelism.ThreadCount"/>.</summary>
internal static class ThreadsOption
{
    public static Option<int> Create() => new("--threads")
    {
        Description = $"Threads to compute on (0 = one per processor, here {Parallelism.DefaultThreadCount}); results are bit-identical for any count",
        DefaultValueFactory = _ => 0,
    };

    /// <summary>Applies the option's value; returns the thread count in force.</summary>
    public static int Apply(int threads)
    {
        if (threads < 0 || threads > Parallelism.MaxThreads)
            throw new ArgumentException($"--threads must be 0 (one per processor) or 1..{Parallelism.MaxThreads}, not {threads}");
        Parallelism.ThreadCount = threads == 0 ? Parallelism.DefaultThreadCount : threads;
        return Parallelism.ThreadCount;
    }
}
