using SharpCnn.Training;

namespace SharpCnn.Tests.Training;

/// <summary>
/// N simulated ranks in one process, each on its own thread: <see cref="Rank"/>(r) is rank r's reducer; an
/// all-gather waits for every rank (a barrier), copies each rank's bytes into its place and hands every rank the
/// whole. What MPI's Allgatherv does between processes, so that tests can prove the exchange in the normal suite.
/// </summary>
internal sealed class ThreadRanks
{
    private readonly Barrier barrier;
    private readonly byte[][] posted;

    public ThreadRanks(int ranks)
    {
        Ranks = ranks;
        barrier = new Barrier(ranks);
        posted = new byte[ranks][];
    }

    public int Ranks { get; }

    public IBatchReducer Rank(int rank) => new Reducer(this, rank);

    /// <summary>Runs <paramref name="body"/>(rank) on one thread per rank and returns the results in rank order.</summary>
    public TResult[] Run<TResult>(Func<int, TResult> body)
    {
        var results = new TResult[Ranks];
        var errors = new Exception?[Ranks];
        var threads = Enumerable.Range(0, Ranks).Select(r => new Thread(() =>
        {
            try
            {
                results[r] = body(r);
            }
            catch (Exception e)
            {
                errors[r] = e;
                barrier.RemoveParticipant(); // the others must not wait for a rank that failed
            }
        }, 16 << 20)).ToArray();
        foreach (var t in threads) t.Start();
        foreach (var t in threads) Assert.True(t.Join(TimeSpan.FromMinutes(5)), "a simulated rank hung");
        foreach (var e in errors)
            if (e is not null) throw new AggregateException(e);
        return results;
    }

    private sealed class Reducer(ThreadRanks owner, int rank) : IBatchReducer
    {
        public int Rank => rank;

        public int Ranks => owner.Ranks;

        public void AllGather(ReadOnlySpan<byte> mine, Span<byte> all, ReadOnlySpan<int> counts)
        {
            Assert.Equal(counts[rank], mine.Length);
            owner.posted[rank] = mine.ToArray();
            owner.barrier.SignalAndWait();
            int at = 0;
            for (int r = 0; r < owner.Ranks; r++)
            {
                Assert.Equal(counts[r], owner.posted[r].Length);
                owner.posted[r].CopyTo(all[at..]);
                at += counts[r];
            }
            owner.barrier.SignalAndWait(); // nobody posts the next exchange before all have read this one
        }
    }
}
