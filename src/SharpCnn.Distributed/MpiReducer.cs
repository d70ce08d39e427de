using SharpCnn.Training;

namespace SharpCnn.Distributed;

/// <summary>
/// The exchange between the processes of one <c>mpirun</c> job, through MPICH (MPI_Allgatherv on MPI_COMM_WORLD):
/// hand it to <see cref="Trainer{T}.Reducer"/> and every rank trains its share of each batch to the weights one
/// process would reach. Start it once per process with <see cref="Start"/>, dispose it at the end (MPI_Finalize).
/// </summary>
public sealed unsafe class MpiReducer : IBatchReducer, IDisposable
{
    private int[] displacements = [];
    private bool disposed;

    private MpiReducer(int rank, int ranks)
    {
        Rank = rank;
        Ranks = ranks;
    }

    /// <inheritdoc />
    public int Rank { get; }

    /// <inheritdoc />
    public int Ranks { get; }

    /// <summary>
    /// True when this process was started by MPICH's launcher (<c>mpirun</c>/<c>mpiexec</c>, which sets PMI_RANK and
    /// PMI_SIZE for each process it starts).
    /// </summary>
    public static bool LaunchedByMpirun =>
        Environment.GetEnvironmentVariable("PMI_RANK") is not null && Environment.GetEnvironmentVariable("PMI_SIZE") is not null;

    /// <summary>
    /// Initialises MPI and returns this process's reducer.
    /// </summary>
    /// <exception cref="InvalidOperationException">The process was not started by <c>mpirun</c>, or the MPI library
    /// cannot be loaded or initialised; the message says which and what to do.</exception>
    public static MpiReducer Start()
    {
        if (!LaunchedByMpirun)
            throw new InvalidOperationException("distributed training runs under MPICH's launcher: start it with mpirun -np N (Debian: mpirun.mpich from the mpich package)");
        try
        {
            Check(MpiNative.Initialized(out int initialised), "MPI_Initialized");
            if (initialised == 0) Check(MpiNative.Init(0, 0), "MPI_Init");
            Check(MpiNative.CommSetErrhandler(MpiNative.CommWorld, MpiNative.ErrorsReturn), "MPI_Comm_set_errhandler");
            Check(MpiNative.CommRank(MpiNative.CommWorld, out int rank), "MPI_Comm_rank");
            Check(MpiNative.CommSize(MpiNative.CommWorld, out int size), "MPI_Comm_size");
            return new MpiReducer(rank, size);
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException or BadImageFormatException)
        {
            throw new InvalidOperationException(
                $"the MPI library {MpiNative.Library} cannot be loaded ({e.Message}); install MPICH (Debian: apt-get install mpich) — Open MPI's library has another ABI and is not supported", e);
        }
    }

    /// <inheritdoc />
    public void AllGather(ReadOnlySpan<byte> mine, Span<byte> all, ReadOnlySpan<int> counts)
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        if (counts.Length != Ranks) throw new ArgumentException($"{counts.Length} counts for {Ranks} ranks", nameof(counts));
        if (mine.Length != counts[Rank]) throw new ArgumentException($"rank {Rank} hands in {mine.Length} bytes, its count is {counts[Rank]}", nameof(mine));
        if (displacements.Length != Ranks) displacements = new int[Ranks];
        long at = 0;
        for (int r = 0; r < Ranks; r++)
        {
            displacements[r] = checked((int)at);
            at += counts[r];
        }
        if (all.Length < at) throw new ArgumentException($"the receive buffer holds {all.Length} bytes, the ranks send {at}", nameof(all));
        fixed (byte* send = mine)
        fixed (byte* receive = all)
        fixed (int* c = counts)
        fixed (int* d = displacements)
        {
            // A zero-length send passes a null pointer, which MPI accepts with a count of 0.
            Check(MpiNative.Allgatherv(send, mine.Length, MpiNative.Byte, receive, c, d, MpiNative.Byte, MpiNative.CommWorld), "MPI_Allgatherv");
        }
    }

    /// <summary>Waits until every rank has reached this point.</summary>
    public void Barrier()
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        Check(MpiNative.Barrier(MpiNative.CommWorld), "MPI_Barrier");
    }

    /// <summary>Ends the whole job (every rank) with <paramref name="code"/>: for a rank that cannot go on while the others wait for it.</summary>
    public static void AbortJob(int code)
    {
        try
        {
            MpiNative.Abort(MpiNative.CommWorld, code);
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            // no MPI: nothing to abort
        }
    }

    /// <summary>Finalises MPI (once every rank is done).</summary>
    public void Dispose()
    {
        if (disposed) return;
        disposed = true;
        MpiNative.Finalized(out int finalized);
        if (finalized == 0) MpiNative.Finalize();
    }

    private static void Check(int code, string call)
    {
        if (code != MpiNative.Success) throw new InvalidOperationException($"{call} failed with MPI error {code}");
    }
}
