using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using SharpCnn.Kernels;
using SharpCnn.Tensors;

namespace SharpCnn.Layers;

/// <summary>
/// Max pooling over kh x kw windows moved by a stride, per channel.
///
/// Shapes: x [N, C, H, W], y [N, C, Ho, Wo] (Ho, Wo from the edge mode, see <see cref="PoolEdge"/>).
///
/// Forward:  y[n,c,u,v] = max_{i∈[0,kh), j∈[0,kw)} xp[n, c, u·s + i, v·s + j]
///           (xp = x with zero padding at the bottom/right in 'pad' mode; the padded
///           zeros take part in the max, as the seeds' zero-padding does)
/// Backward: the whole gradient of each output goes to the one input that was the max
///           (its arg-max, the first in row-major order on ties); every other input of
///           the window gets 0:
///           ∂L/∂x[n,c,p,q] = Σ_{u,v : argmax(u,v) = (p,q)} ∂L/∂y[n,c,u,v]
/// Seed 003 says the error is copied to all four inputs; that is wrong, and the gradient
/// check (tests/SharpCnn.Tests/Layers/PoolingTests.cs) rejects it. Seeds 000, 001 and 004
/// route it to the arg-max, as here.
/// </summary>
public sealed class MaxPool2d<T> : Layer<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private int[] argmax = [];

    /// <summary>Creates max pooling with a square window and stride = window unless given.</summary>
    public MaxPool2d(int window, int? stride = null, PoolEdge edge = PoolEdge.Drop)
        : this(window, window, stride ?? window, edge) { }

    /// <summary>Creates max pooling with a kh x kw window.</summary>
    public MaxPool2d(int windowHeight, int windowWidth, int stride, PoolEdge edge)
    {
        Window = new PoolWindow(windowHeight, windowWidth, stride, edge);
    }

    /// <summary>The window geometry.</summary>
    public PoolWindow Window { get; }

    /// <inheritdoc />
    public override string Token => "maxpool" + Window.Suffix;

    /// <inheritdoc />
    protected override Shape Configure(Shape input) => Window.Apply(input);

    /// <inheritdoc />
    protected override void ReserveScratch(int batch) => argmax = new int[batch * OutputShape.Size];

    /// <inheritdoc />
    public override long ForwardFlops => (long)OutputShape.Size * Window.Height * Window.Width;

    /// <inheritdoc />
    public override void Forward(ReadOnlySpan<T> x, Span<T> y, int n)
    {
        CheckForward(x, y, n);
        // Planes (sample, channel) are independent: ranges of planes on several threads.
        int planes = n * InputShape.Channels;
        var work = new Work { Layer = this, X = x, Y = y, Planes = planes, Parts = Parts(planes) };
        Parallelism.For(work.Parts, ref work);
    }

    /// <inheritdoc />
    public override void Backward(ReadOnlySpan<T> x, ReadOnlySpan<T> y, ReadOnlySpan<T> dy, Span<T> dx, int n)
    {
        CheckBackward(x, y, dy, dx, n);
        if (dx.IsEmpty) return;
        int planes = n * InputShape.Channels;
        var work = new Work { Layer = this, Dy = dy, Dx = dx, Planes = planes, Parts = Parts(planes), Backward = true };
        Parallelism.For(work.Parts, ref work);
    }

    private int Parts(int planes) => Parallelism.ElementParts(planes * InputShape.Height * InputShape.Width);

    private ref struct Work : IPartitionedWork
    {
        public MaxPool2d<T> Layer;
        public ReadOnlySpan<T> X, Dy;
        public Span<T> Y, Dx;
        public int Planes, Parts;
        public bool Backward;

        public readonly void Run(int partition)
        {
            var (first, count) = Parallelism.Range(Planes, Parts, partition);
            if (Backward) Layer.BackwardPlanes(Dy, Dx, first, count);
            else Layer.ForwardPlanes(X, Y, first, count);
        }
    }

    private void ForwardPlanes(ReadOnlySpan<T> x, Span<T> y, int first, int count)
    {
        int h = InputShape.Height, w = InputShape.Width, ho = OutputShape.Height, wo = OutputShape.Width;
        int kh = Window.Height, kw = Window.Width, s = Window.Stride;
        // 2x2 windows with stride 2 that all lie inside the input (no padded edge): unrolled.
        bool twoByTwo = kh == 2 && kw == 2 && s == 2 && 2 * ho <= h && 2 * wo <= w;
        for (int pl = first; pl < first + count; pl++)
        {
            ReadOnlySpan<T> xp = x.Slice(pl * h * w, h * w);
            int outBase = pl * ho * wo;
            if (twoByTwo)
            {
                TwoByTwo(xp, w, y.Slice(outBase, ho * wo), argmax.AsSpan(outBase, ho * wo), ho, wo);
                continue;
            }
            ForwardPlaneReference(xp, h, w, Window, y.Slice(outBase, ho * wo), argmax.AsSpan(outBase, ho * wo), ho, wo);
        }
    }

    /// <summary>
    /// The plain loop over one plane, for any window, stride and edge (the reference the unrolled
    /// 2x2 kernel is held to): y[u, v] = max of the window, argmax = its row-major index in the plane
    /// (the first on ties, a NaN over numbers), or -1 when a padded zero is the max.
    /// </summary>
    internal static void ForwardPlaneReference(ReadOnlySpan<T> xp, int h, int w, PoolWindow window, Span<T> y, Span<int> argmax, int ho, int wo)
    {
        int kh = window.Height, kw = window.Width, s = window.Stride;
        for (int u = 0; u < ho; u++)
        {
            for (int v = 0; v < wo; v++)
            {
                int r0 = u * s, c0 = v * s;
                int r1 = Math.Min(r0 + kh, h), c1 = Math.Min(c0 + kw, w);
                bool padded = r0 + kh > h || c0 + kw > w; // part of the window is zero padding
                T best = T.NegativeInfinity;
                int at = -1;
                for (int r = r0; r < r1; r++)
                {
                    for (int c = c0; c < c1; c++)
                    {
                        T val = xp[r * w + c];
                        if (val > best || (T.IsNaN(val) && !T.IsNaN(best)))
                        {
                            best = val;
                            at = r * w + c;
                        }
                    }
                }
                if (padded && (at < 0 || best < T.Zero))
                {
                    // A padded zero is the max; it is not an input, so no gradient flows.
                    best = T.Zero;
                    at = -1;
                }
                y[u * wo + v] = best;
                argmax[u * wo + v] = at;
            }
        }
    }

    /// <summary>
    /// The general loop unrolled for whole 2x2 windows with stride 2: the same comparisons in the same
    /// order (row-major, the first maximum wins, a NaN wins over numbers), so the same results.
    /// </summary>
    internal static void TwoByTwo(ReadOnlySpan<T> xp, int w, Span<T> y, Span<int> at, int ho, int wo)
    {
        if (xp.Length < 2 * ho * w || y.Length < ho * wo || at.Length < ho * wo || 2 * wo > w)
            throw new ArgumentException("TwoByTwo: spans too short for the plane");
        ref T x0 = ref MemoryMarshal.GetReference(xp);
        ref T yr = ref MemoryMarshal.GetReference(y);
        ref int ar = ref MemoryMarshal.GetReference(at);
        for (int u = 0; u < ho; u++)
        {
            int top = 2 * u * w, bottom = top + w;
            ref T r0 = ref Unsafe.Add(ref x0, top);
            ref T r1 = ref Unsafe.Add(ref x0, bottom);
            if (typeof(T) == typeof(float) && Vector256.IsHardwareAccelerated && wo >= 8)
            {
                TwoByTwoRow(ref Unsafe.As<T, float>(ref r0), ref Unsafe.As<T, float>(ref r1), top, w,
                    ref Unsafe.As<T, float>(ref Unsafe.Add(ref yr, u * wo)), ref Unsafe.Add(ref ar, u * wo), wo);
                continue;
            }
            for (int v = 0, o = u * wo; v < wo; v++, o++)
            {
                int c = 2 * v;
                T a = Unsafe.Add(ref r0, c), b = Unsafe.Add(ref r0, c + 1), d = Unsafe.Add(ref r1, c), e = Unsafe.Add(ref r1, c + 1);
                T best = a; // as the general loop after its first comparison with -infinity
                int index = Beats(a, T.NegativeInfinity) ? top + c : -1;
                if (Beats(b, best)) { best = b; index = top + c + 1; }
                if (Beats(d, best)) { best = d; index = bottom + c; }
                if (Beats(e, best)) { best = e; index = bottom + c + 1; }
                Unsafe.Add(ref yr, o) = best;
                Unsafe.Add(ref ar, o) = index;
            }
        }
    }

    /// <summary>
    /// One output row of <see cref="TwoByTwo"/> for floats, 8 windows at a time: the row pair's 16 inputs are
    /// split into even and odd columns (a, b from the upper row, d, e from the lower), then the scan's three
    /// comparisons run lane by lane with masks. The last 8 windows are done by an overlapping block (wo &gt;= 8),
    /// which recomputes some windows with identical results.
    /// </summary>
    private static void TwoByTwoRow(ref float r0, ref float r1, int top, int w, ref float y, ref int at, int wo)
    {
        var evens = Vector256.Create(0, 2, 4, 6, 1, 3, 5, 7);
        var steps = Vector256.Create(0, 2, 4, 6, 8, 10, 12, 14);
        var minusInfinity = Vector256.Create(float.NegativeInfinity);
        for (int v = 0; ; v += 8)
        {
            if (v > wo - 8) v = wo - 8;
            int c = 2 * v;
            Split(ref Unsafe.Add(ref r0, c), evens, out var a, out var b);
            Split(ref Unsafe.Add(ref r1, c), evens, out var d, out var e);
            var ia = Vector256.Create(top + c) + steps;
            var id = ia + Vector256.Create(w);
            var best = a;
            var index = Vector256.ConditionalSelect(Beats(a, minusInfinity).AsInt32(), ia, Vector256.Create(-1));
            var m = Beats(b, best);
            best = Vector256.ConditionalSelect(m, b, best);
            index = Vector256.ConditionalSelect(m.AsInt32(), ia + Vector256<int>.One, index);
            m = Beats(d, best);
            best = Vector256.ConditionalSelect(m, d, best);
            index = Vector256.ConditionalSelect(m.AsInt32(), id, index);
            m = Beats(e, best);
            best = Vector256.ConditionalSelect(m, e, best);
            index = Vector256.ConditionalSelect(m.AsInt32(), id + Vector256<int>.One, index);
            best.StoreUnsafe(ref y, (nuint)v);
            index.StoreUnsafe(ref at, (nuint)v);
            if (v == wo - 8) break;
        }
    }

    /// <summary>The 16 floats at <paramref name="source"/> split into the 8 at even and the 8 at odd offsets.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Split(ref float source, Vector256<int> evens, out Vector256<float> even, out Vector256<float> odd)
    {
        var low = Vector256.Shuffle(Vector256.LoadUnsafe(ref source), evens);                // e0..e3 | o0..o3
        var high = Vector256.Shuffle(Vector256.LoadUnsafe(ref source, 8), evens);            // e4..e7 | o4..o7
        even = Vector256.Create(low.GetLower(), high.GetLower());
        odd = Vector256.Create(low.GetUpper(), high.GetUpper());
    }

    /// <summary>Lane-wise <see cref="Beats(T, T)"/>: a larger value, or a NaN over a number.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Beats(Vector256<float> value, Vector256<float> best) =>
        Vector256.GreaterThan(value, best) | (~Vector256.Equals(value, value) & Vector256.Equals(best, best));

    /// <summary>The general loop's test: a larger value, or a NaN over a number.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool Beats(T value, T best) => value > best || (T.IsNaN(value) && !T.IsNaN(best));

    private void BackwardPlanes(ReadOnlySpan<T> dy, Span<T> dx, int first, int count)
    {
        int inPlane = InputShape.Height * InputShape.Width, outPlane = OutputShape.Height * OutputShape.Width;
        dx.Slice(first * inPlane, count * inPlane).Clear();
        for (int pl = first; pl < first + count; pl++)
        {
            Span<T> dxp = dx.Slice(pl * inPlane, inPlane);
            for (int o = pl * outPlane, end = o + outPlane; o < end; o++)
            {
                int at = argmax[o];
                if (at >= 0) dxp[at] += dy[o];
            }
        }
    }
}
