// The canonical order of every sum over the samples of a batch (parameter gradients, batch-norm statistics and
// their backward sums, the loss): the batch is cut into blocks of BlockSize samples in sample order (the last may
// be shorter); a block's sum runs in sample order from zero (as each kernel does it); the blocks' sums are
// combined by a fixed pairwise tree,
//   tree(lo, hi) = block(lo)                                   when hi - lo = 1
//                = tree(lo, lo + p) + tree(lo + p, hi)         otherwise, p the largest power of two < hi - lo,
// and the result is added to the destination (a gradient that starts at zero). The tree depends on the batch
// size alone: not on threads, vector width or how many processes share the batch. A process that holds only
// blocks [a, c) computes the largest whole subtrees inside [a, c) (Cover), the processes exchange them, and each
// completes the same tree from the same subtrees: the same bits as one process computing all blocks.
using System.Numerics.Tensors;
using System.Runtime.InteropServices;
using SharpCnn.Training;

namespace SharpCnn.Kernels;

/// <summary>The fixed tree over fixed blocks of samples that every batch sum follows (see the top of this file).</summary>
internal static class BatchTree
{
    /// <summary>Samples per block.</summary>
    public const int BlockSize = 16;

    /// <summary>Blocks of a batch of <paramref name="samples"/>.</summary>
    public static int Blocks(int samples) => (samples + BlockSize - 1) / BlockSize;

    /// <summary>The split of a node of <paramref name="count"/> ≥ 2 blocks: the largest power of two below it.</summary>
    public static int SplitOf(int count) => 1 << (31 - int.LeadingZeroCount(count - 1));

    /// <summary>Adds to <paramref name="nodes"/> the largest subtrees of tree(lo, hi) that lie inside blocks [a, c), in block order.</summary>
    public static void Cover(int lo, int hi, int a, int c, List<(int Lo, int Hi)> nodes)
    {
        if (hi <= a || lo >= c) return;
        if (a <= lo && hi <= c)
        {
            nodes.Add((lo, hi));
            return;
        }
        int p = SplitOf(hi - lo);
        Cover(lo, lo + p, a, c, nodes);
        Cover(lo + p, hi, a, c, nodes);
    }

    /// <summary>
    /// <paramref name="destination"/>[e] += tree over all blocks of the global batch, element e, where
    /// <paramref name="partials"/> holds this process's <paramref name="localBlocks"/> block sums of
    /// <paramref name="length"/> values each, one after another (they are overwritten). With no
    /// <paramref name="share"/> (or one that is not split) the partials are the whole batch's.
    /// </summary>
    public static void Combine<T>(BatchShare? share, Span<T> partials, int length, int localBlocks, Span<T> destination)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (destination.Length != length) throw new ArgumentException($"destination has {destination.Length} values, the partials {length}");
        if (share is not { Split: true })
        {
            var local = new LocalWork<T> { Partials = partials, Length = length, Blocks = localBlocks, Destination = destination, Parts = Parts(length) };
            Parallelism.For(local.Parts, ref local);
            return;
        }
        if (localBlocks != share.LocalBlocks) throw new ArgumentException($"{localBlocks} partial blocks for a share of {share.LocalBlocks}");
        int size = System.Runtime.CompilerServices.Unsafe.SizeOf<T>();
        var own = share.OwnNodes;
        int totalNodes = share.AllNodes.Length;
        Span<T> send = MemoryMarshal.Cast<byte, T>(share.SendBuffer(own.Length * length * size));
        Span<T> all = MemoryMarshal.Cast<byte, T>(share.ReceiveBuffer(totalNodes * length * size));
        var nodes = new NodeWork<T> { Partials = partials, Length = length, Share = share, Send = send, Parts = Parts(length) };
        Parallelism.For(nodes.Parts, ref nodes);
        share.Reducer.AllGather(MemoryMarshal.AsBytes(send), MemoryMarshal.AsBytes(all), share.Counts(length * size));
        var finish = new FinishWork<T> { All = all, Length = length, Share = share, Destination = destination, Parts = Parts(length) };
        Parallelism.For(finish.Parts, ref finish);
    }

    /// <summary>
    /// <see cref="Combine"/> into a parameter's gradient, which nothing reads before the backward pass ends: with a shared
    /// batch this rank's subtrees go out now and the exchange runs on while the layers below go backward;
    /// <see cref="BatchShare.FinishPending"/> (at the end of the backward pass) completes the tree into
    /// <paramref name="destination"/>. The same bits as <see cref="Combine"/>.
    /// </summary>
    public static void CombineLater<T>(BatchShare? share, Span<T> partials, int length, int localBlocks, T[] destination)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (share is not { Split: true })
        {
            Combine<T>(share, partials, length, localBlocks, destination);
            return;
        }
        if (destination.Length != length) throw new ArgumentException($"destination has {destination.Length} values, the partials {length}");
        if (localBlocks != share.LocalBlocks) throw new ArgumentException($"{localBlocks} partial blocks for a share of {share.LocalBlocks}");
        int size = System.Runtime.CompilerServices.Unsafe.SizeOf<T>();
        int sendBytes = share.OwnNodes.Length * length * size, allBytes = share.AllNodes.Length * length * size;
        var pending = share.NextPending<T>(sendBytes, allBytes);
        var nodes = new NodeWork<T> { Partials = partials, Length = length, Share = share, Send = MemoryMarshal.Cast<byte, T>(pending.Send.AsSpan(0, sendBytes)), Parts = Parts(length) };
        Parallelism.For(nodes.Parts, ref nodes);
        pending.Length = length;
        pending.Destination = destination;
        pending.Exchange = share.Reducer.StartAllGather(pending.Send.AsMemory(0, sendBytes), pending.Receive.AsMemory(0, allBytes), share.Counts(length * size));
    }

    /// <summary>
    /// <see cref="CombineLater"/> for a caller that computes this rank's subtrees itself (a dense layer's ∂W, each
    /// subtree by GemmTree): returns the exchange's slot, whose <see cref="Pending{T}.Nodes"/> the caller fills with
    /// the subtrees of <paramref name="share"/>'s OwnNodes in order, <paramref name="length"/> values each, before
    /// <see cref="SendNodesLater"/>. The same exchange and the same tree as <see cref="CombineLater"/>.
    /// </summary>
    internal static Pending<T> BeginNodes<T>(BatchShare share, int length) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (!share.Split) throw new ArgumentException("the batch is not shared between processes", nameof(share));
        int size = System.Runtime.CompilerServices.Unsafe.SizeOf<T>();
        var pending = share.NextPending<T>(share.OwnNodes.Length * length * size, share.AllNodes.Length * length * size);
        pending.Length = length;
        pending.Destination = [];
        return pending;
    }

    /// <summary>Starts the exchange of the subtrees written into <paramref name="pending"/> (<see cref="BeginNodes"/>); BatchShare.FinishPending completes the tree into <paramref name="destination"/>.</summary>
    internal static void SendNodesLater<T>(BatchShare share, Pending<T> pending, T[] destination) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (destination.Length != pending.Length) throw new ArgumentException($"destination has {destination.Length} values, the subtrees {pending.Length}");
        int size = System.Runtime.CompilerServices.Unsafe.SizeOf<T>();
        int sendBytes = share.OwnNodes.Length * pending.Length * size, allBytes = share.AllNodes.Length * pending.Length * size;
        pending.Destination = destination;
        pending.Exchange = share.Reducer.StartAllGather(pending.Send.AsMemory(0, sendBytes), pending.Receive.AsMemory(0, allBytes), share.Counts(pending.Length * size));
    }

    /// <summary>One exchange of <see cref="CombineLater"/> in flight: its buffers (kept for the next steps) and where the tree goes.</summary>
    internal sealed class Pending<T> : BatchShare.PendingCombine where T : unmanaged, IFloatingPointIeee754<T>
    {
        public byte[] Send = [], Receive = [];
        public T[] Destination = [];
        public int Length, Exchange;

        /// <summary>The send buffer as <paramref name="count"/> subtrees of <see cref="Length"/> values (<see cref="BeginNodes"/>).</summary>
        public Span<T> Nodes(int count) => MemoryMarshal.Cast<byte, T>(Send.AsSpan(0, count * Length * System.Runtime.CompilerServices.Unsafe.SizeOf<T>()));

        public override void Finish(BatchShare share)
        {
            share.Reducer.Wait(Exchange);
            int size = System.Runtime.CompilerServices.Unsafe.SizeOf<T>();
            Span<T> all = MemoryMarshal.Cast<byte, T>(Receive.AsSpan(0, share.AllNodes.Length * Length * size));
            var finish = new FinishWork<T> { All = all, Length = Length, Share = share, Destination = Destination, Parts = Parts(Length) };
            Parallelism.For(finish.Parts, ref finish);
            Destination = [];
        }
    }

    private static int Parts(int length) => Math.Max(1, Math.Min(Parallelism.ElementParts(length), length));

    /// <summary>Tree over slots [lo, hi) of <paramref name="slots"/> (each <paramref name="length"/> values) into slot lo, elements [start, start + count).</summary>
    private static void InPlace<T>(Span<T> slots, int length, int lo, int hi, int start, int count)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (hi - lo <= 1) return;
        int p = SplitOf(hi - lo);
        InPlace(slots, length, lo, lo + p, start, count);
        InPlace(slots, length, lo + p, hi, start, count);
        Span<T> left = slots.Slice(lo * length + start, count);
        TensorPrimitives.Add(left, slots.Slice((lo + p) * length + start, count), left);
    }

    /// <summary>Tree(lo, hi) from the gathered subtrees in <paramref name="all"/>; returns the slot holding it.</summary>
    private static int Complete<T>(BatchShare share, Span<T> all, int length, int lo, int hi, int start, int count)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int slot = share.SlotOf(lo, hi);
        if (slot >= 0) return slot;
        int p = SplitOf(hi - lo);
        int left = Complete(share, all, length, lo, lo + p, start, count);
        int right = Complete(share, all, length, lo + p, hi, start, count);
        Span<T> l = all.Slice(left * length + start, count);
        TensorPrimitives.Add(l, all.Slice(right * length + start, count), l);
        return left;
    }

    private ref struct LocalWork<T> : IPartitionedWork where T : unmanaged, IFloatingPointIeee754<T>
    {
        public Span<T> Partials, Destination;
        public int Length, Blocks, Parts;

        public readonly void Run(int partition)
        {
            var (start, count) = Parallelism.Range(Length, Parts, partition);
            if (count == 0) return;
            InPlace(Partials, Length, 0, Blocks, start, count);
            Span<T> d = Destination.Slice(start, count);
            TensorPrimitives.Add(d, Partials.Slice(start, count), d);
        }
    }

    private ref struct NodeWork<T> : IPartitionedWork where T : unmanaged, IFloatingPointIeee754<T>
    {
        public Span<T> Partials, Send;
        public int Length, Parts;
        public BatchShare Share;

        public readonly void Run(int partition)
        {
            var (start, count) = Parallelism.Range(Length, Parts, partition);
            if (count == 0) return;
            var own = Share.OwnNodes;
            int first = Share.FirstBlock;
            for (int i = 0; i < own.Length; i++)
            {
                var (lo, hi) = own[i];
                InPlace(Partials, Length, lo - first, hi - first, start, count);
                Partials.Slice((lo - first) * Length + start, count).CopyTo(Send.Slice(i * Length + start, count));
            }
        }
    }

    private ref struct FinishWork<T> : IPartitionedWork where T : unmanaged, IFloatingPointIeee754<T>
    {
        public Span<T> All, Destination;
        public int Length, Parts;
        public BatchShare Share;

        public readonly void Run(int partition)
        {
            var (start, count) = Parallelism.Range(Length, Parts, partition);
            if (count == 0) return;
            int root = Complete(Share, All, Length, 0, Share.TotalBlocks, start, count);
            Span<T> d = Destination.Slice(start, count);
            TensorPrimitives.Add(d, All.Slice(root * Length + start, count), d);
        }
    }
}
