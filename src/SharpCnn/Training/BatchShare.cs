using SharpCnn.Kernels;

namespace SharpCnn.Training;

/// <summary>
/// The exchange between the processes (ranks) that train one model together on shares of every batch. Each
/// rank hands in its own bytes and gets every rank's, in rank order: an all-gather. An MPI implementation lives
/// outside the core (SharpCnn.Distributed); <see cref="SingleProcess"/> is the one-rank case.
/// </summary>
public interface IBatchReducer
{
    /// <summary>This process's rank, 0 .. <see cref="Ranks"/> - 1.</summary>
    int Rank { get; }

    /// <summary>How many ranks train together.</summary>
    int Ranks { get; }

    /// <summary>
    /// Every rank calls this with the same <paramref name="counts"/> (bytes per rank, in rank order); rank r hands in
    /// <paramref name="mine"/> of counts[r] bytes and receives all ranks' bytes one after another in <paramref name="all"/>.
    /// </summary>
    void AllGather(ReadOnlySpan<byte> mine, Span<byte> all, ReadOnlySpan<int> counts);

    /// <summary>
    /// Starts the all-gather of <see cref="AllGather"/> and returns a number for <see cref="Wait"/>, so that work can go on
    /// while the bytes travel; <paramref name="mine"/> and <paramref name="all"/> must stay untouched until then. Every rank
    /// starts the same exchanges in the same order. By default the exchange is done before this returns.
    /// </summary>
    int StartAllGather(ReadOnlyMemory<byte> mine, Memory<byte> all, ReadOnlySpan<int> counts)
    {
        AllGather(mine.Span, all.Span, counts);
        return 0;
    }

    /// <summary>Waits until the exchange <paramref name="exchange"/> (from <see cref="StartAllGather"/>) has filled its buffer.</summary>
    void Wait(int exchange)
    {
    }

    /// <summary>
    /// Training step <paramref name="step"/> (counted from 1 over the whole run) begins: the exchanges that follow are
    /// its own (an implementation may use this to say where a rank that stopped answering was).
    /// </summary>
    void BeginStep(long step)
    {
    }
}

/// <summary>One process alone: the all-gather is a copy.</summary>
public sealed class SingleProcess : IBatchReducer
{
    /// <summary>The instance.</summary>
    public static SingleProcess Instance { get; } = new();

    /// <inheritdoc />
    public int Rank => 0;

    /// <inheritdoc />
    public int Ranks => 1;

    /// <inheritdoc />
    public void AllGather(ReadOnlySpan<byte> mine, Span<byte> all, ReadOnlySpan<int> counts) => mine.CopyTo(all);
}

/// <summary>
/// One rank's share of a global batch of <see cref="GlobalCount"/> samples. The batch is cut into blocks of
/// <see cref="BatchTree.BlockSize"/> samples in sample order (the last may be shorter); with B blocks and N ranks,
/// rank r takes the blocks [r·B/N, (r+1)·B/N). When there are fewer blocks than ranks (a short last batch) every
/// rank computes the whole batch itself (<see cref="Split"/> false): the same tree, so the same bits, with no
/// exchange. Every sum over the samples is the fixed tree of <see cref="BatchTree"/> over the blocks; each rank
/// computes the largest whole subtrees inside its block range, the ranks exchange them, and each completes the
/// same tree.
/// </summary>
public sealed class BatchShare
{
    private readonly int[] slotAtBlock;
    private readonly int[] slotEnd;
    private readonly int[] countsScratch;
    private byte[] send = [], receive = [];

    /// <summary>Shares a batch of <paramref name="globalCount"/> samples among the ranks of <paramref name="reducer"/>.</summary>
    public BatchShare(int globalCount, IBatchReducer reducer)
    {
        ArgumentNullException.ThrowIfNull(reducer);
        ArgumentOutOfRangeException.ThrowIfLessThan(globalCount, 1);
        if (reducer.Ranks < 1 || reducer.Rank < 0 || reducer.Rank >= reducer.Ranks)
            throw new ArgumentException($"rank {reducer.Rank} of {reducer.Ranks} is not a rank", nameof(reducer));
        Reducer = reducer;
        GlobalCount = globalCount;
        TotalBlocks = BatchTree.Blocks(globalCount);
        int ranks = reducer.Ranks, rank = reducer.Rank;
        Split = ranks > 1 && TotalBlocks >= ranks;
        if (!Split)
        {
            FirstBlock = 0;
            EndBlock = TotalBlocks;
        }
        else
        {
            FirstBlock = (int)((long)rank * TotalBlocks / ranks);
            EndBlock = (int)((long)(rank + 1) * TotalBlocks / ranks);
        }
        FirstSample = FirstBlock * BatchTree.BlockSize;
        Count = Math.Min(globalCount, EndBlock * BatchTree.BlockSize) - FirstSample;
        NodesPerRank = new int[ranks];
        var nodes = new List<(int Lo, int Hi)>();
        slotAtBlock = new int[TotalBlocks];
        Array.Fill(slotAtBlock, -1);
        if (Split)
        {
            for (int r = 0; r < ranks; r++)
            {
                int a = (int)((long)r * TotalBlocks / ranks), c = (int)((long)(r + 1) * TotalBlocks / ranks);
                int before = nodes.Count;
                BatchTree.Cover(0, TotalBlocks, a, c, nodes);
                NodesPerRank[r] = nodes.Count - before;
                if (r == rank)
                {
                    OwnNodes = nodes.GetRange(before, nodes.Count - before).ToArray();
                }
            }
        }
        AllNodes = nodes.ToArray();
        slotEnd = new int[AllNodes.Length];
        for (int i = 0; i < AllNodes.Length; i++)
        {
            slotAtBlock[AllNodes[i].Lo] = i;
            slotEnd[i] = AllNodes[i].Hi;
        }
        countsScratch = new int[ranks];
    }

    /// <summary>The exchange.</summary>
    public IBatchReducer Reducer { get; }

    /// <summary>Samples in the whole (global) batch: the loss's mean and batch norm's statistics are over these.</summary>
    public int GlobalCount { get; }

    /// <summary>Blocks of the global batch.</summary>
    public int TotalBlocks { get; }

    /// <summary>True when the ranks compute separate shares and exchange; false when this process computes the whole batch.</summary>
    public bool Split { get; }

    /// <summary>This rank's first block.</summary>
    public int FirstBlock { get; }

    /// <summary>One past this rank's last block.</summary>
    public int EndBlock { get; }

    /// <summary>Global index of this rank's first sample.</summary>
    public int FirstSample { get; }

    /// <summary>Samples this rank computes.</summary>
    public int Count { get; }

    /// <summary>This rank's blocks.</summary>
    public int LocalBlocks => EndBlock - FirstBlock;

    /// <summary>The subtrees (block ranges) this rank computes and hands in, in block order.</summary>
    internal (int Lo, int Hi)[] OwnNodes { get; } = [];

    /// <summary>Every rank's subtrees, rank after rank (= block order).</summary>
    internal (int Lo, int Hi)[] AllNodes { get; }

    /// <summary>How many subtrees each rank hands in.</summary>
    internal int[] NodesPerRank { get; }

    /// <summary>The gathered subtree that is exactly blocks [lo, hi), or -1.</summary>
    internal int SlotOf(int lo, int hi)
    {
        int slot = slotAtBlock[lo];
        return slot >= 0 && slotEnd[slot] == hi ? slot : -1;
    }

    /// <summary>The send buffer of an exchange, at least <paramref name="bytes"/> long (grown once, then reused).</summary>
    internal Span<byte> SendBuffer(int bytes)
    {
        if (send.Length < bytes) send = new byte[bytes];
        return send.AsSpan(0, bytes);
    }

    /// <summary>The receive buffer of an exchange, at least <paramref name="bytes"/> long (grown once, then reused).</summary>
    internal Span<byte> ReceiveBuffer(int bytes)
    {
        if (receive.Length < bytes) receive = new byte[bytes];
        return receive.AsSpan(0, bytes);
    }

    /// <summary>Every rank's <paramref name="mine"/> (the same length on every rank) into <paramref name="all"/>, rank after rank.</summary>
    internal void GatherDoubles(ReadOnlySpan<double> mine, Span<double> all)
    {
        int bytes = mine.Length * sizeof(double);
        for (int r = 0; r < countsScratch.Length; r++) countsScratch[r] = bytes;
        Reducer.AllGather(System.Runtime.InteropServices.MemoryMarshal.AsBytes(mine), System.Runtime.InteropServices.MemoryMarshal.AsBytes(all[..(mine.Length * countsScratch.Length)]), countsScratch);
    }

    /// <summary>An exchange started during the backward pass, completed by <see cref="FinishPending"/>.</summary>
    internal abstract class PendingCombine
    {
        /// <summary>Waits for the exchange and completes the tree into its destination.</summary>
        public abstract void Finish(BatchShare share);
    }

    private readonly List<PendingCombine> pending = [];
    private int pendingCount;

    /// <summary>The next slot for an exchange in flight, its buffers at least this long (grown once, then reused every step).</summary>
    internal Kernels.BatchTree.Pending<T> NextPending<T>(int sendBytes, int receiveBytes) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (pendingCount == pending.Count) pending.Add(new Kernels.BatchTree.Pending<T>());
        if (pending[pendingCount] is not Kernels.BatchTree.Pending<T> slot) pending[pendingCount] = slot = new Kernels.BatchTree.Pending<T>();
        pendingCount++;
        if (slot.Send.Length < sendBytes) slot.Send = new byte[sendBytes];
        if (slot.Receive.Length < receiveBytes) slot.Receive = new byte[receiveBytes];
        return slot;
    }

    /// <summary>Completes every exchange started since the last call, in the order they started (the end of a backward pass).</summary>
    public void FinishPending()
    {
        int count = pendingCount;
        pendingCount = 0;
        for (int i = 0; i < count; i++) pending[i].Finish(this);
    }

    /// <summary>Byte counts per rank for subtrees of <paramref name="bytesPerNode"/> bytes (a buffer reused between calls).</summary>
    internal ReadOnlySpan<int> Counts(int bytesPerNode)
    {
        for (int r = 0; r < countsScratch.Length; r++) countsScratch[r] = checked(NodesPerRank[r] * bytesPerNode);
        return countsScratch;
    }
}
