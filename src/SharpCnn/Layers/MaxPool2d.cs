using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Text.RegularExpressions;
using SharpCnn.Formats.Onnx;
using SharpCnn.Formats.Onnx.Proto;
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
    public override LayerSpec Spec => new MaxPoolSpec(Window);

    /// <inheritdoc />
    protected override Shape Configure(Shape input) => Window.Apply(input);

    /// <inheritdoc />
    internal override InferenceFusion InferenceRole =>
        Window.Height == 2 && Window.Width == 2 && Window.Stride == 2
        && 2 * OutputShape.Height <= InputShape.Height && 2 * OutputShape.Width <= InputShape.Width
            ? InferenceFusion.MaxPool2x2 : InferenceFusion.None;

    /// <inheritdoc />
    protected override void ReserveScratch(int batch) => argmax = new int[batch * OutputShape.Size];

    /// <inheritdoc />
    internal override long ScratchBytes(int batch) => MemoryMath.Bytes<int>(batch, OutputShape.Size);

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

    /// <summary>After a ReLU: its passes fold into this one's (<see cref="ForwardThroughPrevious"/>, <see cref="BackwardThroughPrevious"/>).</summary>
    internal override bool TakesOver(Layer<T> previous) => previous is Relu<T>;

    /// <summary>
    /// The ReLU before this pooling and the pooling as one forward pass: each window's maximum of the ReLU's input, then
    /// max(·, 0) of it (as the ReLU computes, TensorPrimitives.Max), plane by plane while the plane's outputs are in
    /// cache. ReLU is monotonic, so max of max(v, 0) over a window is max(max of v, 0): the same outputs. The arg-max
    /// can differ only where the maximum is not positive (a window of zeros after the ReLU takes its first zero, the ReLU's
    /// input its largest value), and there no gradient passes either way (<see cref="BackwardThroughPrevious"/>, or the
    /// ReLU's backward pass after this one's: its input is not positive at either position).
    /// </summary>
    internal override void ForwardThroughPrevious(ReadOnlySpan<T> previousX, Span<T> y, int n)
    {
        CheckForward(previousX, y, n);
        int planes = n * InputShape.Channels;
        var work = new Work { Layer = this, X = previousX, Y = y, Planes = planes, Parts = Parts(planes), ReluAfter = true };
        Parallelism.For(work.Parts, ref work);
    }

    /// <summary>
    /// This pooling's backward pass and the ReLU's before it as one: the ReLU passes ∂L/∂y where its input was positive,
    /// and at an arg-max input that is exactly where the window's maximum y[o] is (the ReLU's output there is y[o], and
    /// max(v, 0) &gt; 0 just when v &gt; 0), so each dy[o] goes on only when y[o] &gt; 0; the ReLU's output gradient is never written.
    /// </summary>
    internal override void BackwardThroughPrevious(ReadOnlySpan<T> x, ReadOnlySpan<T> y, ReadOnlySpan<T> dy, Span<T> previousDx, int n)
    {
        CheckBackward(x, y, dy, previousDx, n);
        if (previousDx.IsEmpty) return;
        int planes = n * InputShape.Channels;
        var work = new Work { Layer = this, Dy = dy, Dx = previousDx, PositiveOnly = y, Planes = planes, Parts = Parts(planes), Backward = true };
        Parallelism.For(work.Parts, ref work);
    }

    private int Parts(int planes) => Parallelism.ElementParts(planes * InputShape.Height * InputShape.Width);

    private ref struct Work : IPartitionedWork
    {
        public MaxPool2d<T> Layer;
        public ReadOnlySpan<T> X, Dy, PositiveOnly;
        public Span<T> Y, Dx;
        public int Planes, Parts;
        public bool Backward, ReluAfter;

        public readonly void Run(int partition)
        {
            var (first, count) = Parallelism.Range(Planes, Parts, partition);
            if (Backward) Layer.BackwardPlanes(Dy, Dx, PositiveOnly, first, count);
            else Layer.ForwardPlanes(X, Y, first, count, ReluAfter);
        }
    }

    /// <summary>The forward pass of planes first .. first + count - 1; with <paramref name="reluAfter"/>, max(·, 0) of each plane's outputs after it.</summary>
    private void ForwardPlanes(ReadOnlySpan<T> x, Span<T> y, int first, int count, bool reluAfter = false)
    {
        int h = InputShape.Height, w = InputShape.Width, ho = OutputShape.Height, wo = OutputShape.Width;
        int kh = Window.Height, kw = Window.Width, s = Window.Stride;
        // 2x2 windows with stride 2 that all lie inside the input (no padded edge): unrolled.
        bool twoByTwo = kh == 2 && kw == 2 && s == 2 && 2 * ho <= h && 2 * wo <= w;
        for (int pl = first; pl < first + count; pl++)
        {
            ReadOnlySpan<T> xp = x.Slice(pl * h * w, h * w);
            int outBase = pl * ho * wo;
            Span<T> yp = y.Slice(outBase, ho * wo);
            if (twoByTwo) TwoByTwo(xp, w, yp, argmax.AsSpan(outBase, ho * wo), ho, wo);
            else ForwardPlaneReference(xp, h, w, Window, yp, argmax.AsSpan(outBase, ho * wo), ho, wo);
            if (reluAfter) System.Numerics.Tensors.TensorPrimitives.Max(yp, T.Zero, yp);
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
            if (typeof(T) == typeof(float) && Vector256.IsHardwareAccelerated && wo >= 4 && u < ho - 1)
            {
                // Rows of 4 to 7 windows (a 14 x 14 map's 7) above the last: one block of 8 windows. Its extra windows
                // read on into the next rows of the plane (16 values from row 2u + 1 end within row 2u + 2, as w >= 8)
                // and write outputs u * wo + wo .. u * wo + 7, the next row's first, which that row's block writes again.
                TwoByTwoRow(ref Unsafe.As<T, float>(ref r0), ref Unsafe.As<T, float>(ref r1), top, w,
                    ref Unsafe.As<T, float>(ref Unsafe.Add(ref yr, u * wo)), ref Unsafe.Add(ref ar, u * wo), 8);
                continue;
            }
            if (typeof(T) == typeof(float) && Vector128.IsHardwareAccelerated && wo >= 4)
            {
                // The last row of 4 to 7 windows, or any row without Vector256: 4 windows at a time.
                TwoByTwoRow4(ref Unsafe.As<T, float>(ref r0), ref Unsafe.As<T, float>(ref r1), top, w,
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

    /// <summary>
    /// <see cref="TwoByTwoRow"/> with Vector128: 4 windows at a time, the last 4 by an overlapping block (wo &gt;= 4).
    /// </summary>
    private static void TwoByTwoRow4(ref float r0, ref float r1, int top, int w, ref float y, ref int at, int wo)
    {
        var steps = Vector128.Create(0, 2, 4, 6);
        var minusInfinity = Vector128.Create(float.NegativeInfinity);
        for (int v = 0; ; v += 4)
        {
            if (v > wo - 4) v = wo - 4;
            int c = 2 * v;
            Split4(ref Unsafe.Add(ref r0, c), out var a, out var b);
            Split4(ref Unsafe.Add(ref r1, c), out var d, out var e);
            var ia = Vector128.Create(top + c) + steps;
            var id = ia + Vector128.Create(w);
            var best = a;
            var index = Vector128.ConditionalSelect(Beats(a, minusInfinity).AsInt32(), ia, Vector128.Create(-1));
            var m = Beats(b, best);
            best = Vector128.ConditionalSelect(m, b, best);
            index = Vector128.ConditionalSelect(m.AsInt32(), ia + Vector128<int>.One, index);
            m = Beats(d, best);
            best = Vector128.ConditionalSelect(m, d, best);
            index = Vector128.ConditionalSelect(m.AsInt32(), id, index);
            m = Beats(e, best);
            best = Vector128.ConditionalSelect(m, e, best);
            index = Vector128.ConditionalSelect(m.AsInt32(), id + Vector128<int>.One, index);
            best.StoreUnsafe(ref y, (nuint)v);
            index.StoreUnsafe(ref at, (nuint)v);
            if (v == wo - 4) break;
        }
    }

    /// <summary>The 8 floats at <paramref name="source"/> split into the 4 at even and the 4 at odd offsets.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Split4(ref float source, out Vector128<float> even, out Vector128<float> odd)
    {
        var low = Vector128.LoadUnsafe(ref source);      // e0 o0 e1 o1
        var high = Vector128.LoadUnsafe(ref source, 4);  // e2 o2 e3 o3
        var evens = Vector128.Create(0, 2, 0, 2);
        var odds = Vector128.Create(1, 3, 1, 3);
        var le = Vector128.Shuffle(low, evens);          // e0 e1 e0 e1
        var he = Vector128.Shuffle(high, evens);         // e2 e3 e2 e3
        var lo = Vector128.Shuffle(low, odds);
        var ho = Vector128.Shuffle(high, odds);
        even = Vector128.Create(le.GetLower(), he.GetLower());
        odd = Vector128.Create(lo.GetLower(), ho.GetLower());
    }

    /// <summary>Lane-wise <see cref="Beats(T, T)"/> for Vector128.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<float> Beats(Vector128<float> value, Vector128<float> best) =>
        Vector128.GreaterThan(value, best) | (~Vector128.Equals(value, value) & Vector128.Equals(best, best));

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

    /// <summary>
    /// The backward pass of planes first .. first + count - 1; with <paramref name="positiveOnly"/> (the outputs y, when
    /// a ReLU's backward pass is folded in) only the outputs whose y &gt; 0 pass their gradient on.
    /// </summary>
    private void BackwardPlanes(ReadOnlySpan<T> dy, Span<T> dx, ReadOnlySpan<T> positiveOnly, int first, int count)
    {
        int h = InputShape.Height, w = InputShape.Width, ho = OutputShape.Height, wo = OutputShape.Width;
        int inPlane = h * w, outPlane = ho * wo;
        // 2x2 windows with stride 2 that tile the input exactly: every input is in one window, so each is written once.
        bool tiles = Window is { Height: 2, Width: 2, Stride: 2 } && 2 * ho == h && 2 * wo == w;
        for (int pl = first; pl < first + count; pl++)
        {
            Span<T> dxp = dx.Slice(pl * inPlane, inPlane);
            ReadOnlySpan<T> dyp = dy.Slice(pl * outPlane, outPlane);
            ReadOnlySpan<int> at = argmax.AsSpan(pl * outPlane, outPlane);
            ReadOnlySpan<T> yp = positiveOnly.IsEmpty ? default : positiveOnly.Slice(pl * outPlane, outPlane);
            if (tiles) TwoByTwoBackward(dyp, at, w, dxp, ho, wo, yp);
            else BackwardPlaneReference(dyp, at, dxp, yp);
        }
    }

    /// <summary>
    /// The plain backward pass of one plane, for any window (the reference <see cref="TwoByTwoBackward"/> is held to):
    /// dx cleared, then dx[argmax[o]] += dy[o] for every output o whose maximum was an input (argmax &gt;= 0) and, when
    /// <paramref name="positiveOnly"/> (the outputs y) is given, y[o] &gt; 0.
    /// </summary>
    internal static void BackwardPlaneReference(ReadOnlySpan<T> dy, ReadOnlySpan<int> argmax, Span<T> dx, ReadOnlySpan<T> positiveOnly = default)
    {
        // Cleared plane by plane, so the adds below find it in L1 (a whole range cleared first would have left the
        // cache before they come).
        dx.Clear();
        bool masked = !positiveOnly.IsEmpty;
        for (int o = 0; o < dy.Length; o++)
        {
            int at = argmax[o];
            if (at >= 0 && (!masked || positiveOnly[o] > T.Zero)) dx[at] += dy[o];
        }
    }

    /// <summary>
    /// <see cref="BackwardPlaneReference"/> for 2x2 windows with stride 2 that tile an h x w plane exactly (h = 2 ho,
    /// w = 2 wo): each input gets 0 + dy of its window when it is the window's arg-max, else 0, written once without
    /// clearing first. With AVX, 8 (or 4) windows at a time: four lane masks from the arg-max, and the masked
    /// gradients interleaved into the two input rows; the last block of a row overlaps the one before it.
    /// </summary>
    internal static void TwoByTwoBackward(ReadOnlySpan<T> dy, ReadOnlySpan<int> argmax, int w, Span<T> dx, int ho, int wo, ReadOnlySpan<T> positiveOnly = default)
    {
        bool masked = !positiveOnly.IsEmpty;
        if (dy.Length < ho * wo || argmax.Length < ho * wo || dx.Length < 4 * ho * wo || w != 2 * wo || (masked && positiveOnly.Length < ho * wo))
            throw new ArgumentException("TwoByTwoBackward: spans too short for the plane, or windows that do not tile its rows");
        if (typeof(T) != typeof(float) || !System.Runtime.Intrinsics.X86.Avx.IsSupported || wo < 4)
        {
            BackwardPlaneReference(dy[..(ho * wo)], argmax[..(ho * wo)], dx[..(4 * ho * wo)], masked ? positiveOnly[..(ho * wo)] : default);
            return;
        }
        ref float g = ref Unsafe.As<T, float>(ref MemoryMarshal.GetReference(dy));
        ref int a = ref MemoryMarshal.GetReference(argmax);
        ref float d = ref Unsafe.As<T, float>(ref MemoryMarshal.GetReference(dx));
        // Without a mask the lane test reads dy instead (values of the same length) and lets every lane pass.
        ref float p = ref masked ? ref Unsafe.As<T, float>(ref MemoryMarshal.GetReference(positiveOnly)) : ref g;
        for (int u = 0; u < ho; u++)
        {
            int top = 2 * u * w;
            ref float gr = ref Unsafe.Add(ref g, u * wo);
            ref float pr = ref Unsafe.Add(ref p, u * wo);
            ref int ar = ref Unsafe.Add(ref a, u * wo);
            ref float r0 = ref Unsafe.Add(ref d, top);
            if (wo >= 8) TwoByTwoBackwardRow(ref gr, ref ar, ref pr, masked, top, w, ref r0, wo);
            else TwoByTwoBackwardRow4(ref gr, ref ar, ref pr, masked, top, w, ref r0, wo);
        }
    }

    /// <summary>One output row of <see cref="TwoByTwoBackward"/>, 8 windows at a time (wo &gt;= 8).</summary>
    private static void TwoByTwoBackwardRow(ref float g, ref int a, ref float positive, bool masked, int top, int w, ref float r0, int wo)
    {
        var steps = Vector256.Create(0, 2, 4, 6, 8, 10, 12, 14);
        var all = Vector256.Create(masked ? 0 : -1).AsSingle();
        for (int v = 0; ; v += 8)
        {
            if (v > wo - 8) v = wo - 8;
            var gradient = Vector256.LoadUnsafe(ref g, (nuint)v) + Vector256<float>.Zero; // 0 + dy, as the reference adds
            gradient &= Vector256.GreaterThan(Vector256.LoadUnsafe(ref positive, (nuint)v), Vector256<float>.Zero) | all;
            var at = Vector256.LoadUnsafe(ref a, (nuint)v);
            var ia = Vector256.Create(top + 2 * v) + steps;
            var id = ia + Vector256.Create(w);
            var ga = Vector256.Equals(at, ia).AsSingle() & gradient;
            var gb = Vector256.Equals(at, ia + Vector256<int>.One).AsSingle() & gradient;
            var gd = Vector256.Equals(at, id).AsSingle() & gradient;
            var ge = Vector256.Equals(at, id + Vector256<int>.One).AsSingle() & gradient;
            Interleave(ga, gb, ref Unsafe.Add(ref r0, 2 * v));
            Interleave(gd, ge, ref Unsafe.Add(ref r0, w + 2 * v));
            if (v == wo - 8) break;
        }
    }

    /// <summary>One output row of <see cref="TwoByTwoBackward"/>, 4 windows at a time (4 &lt;= wo &lt; 8).</summary>
    private static void TwoByTwoBackwardRow4(ref float g, ref int a, ref float positive, bool masked, int top, int w, ref float r0, int wo)
    {
        var steps = Vector128.Create(0, 2, 4, 6);
        var all = Vector128.Create(masked ? 0 : -1).AsSingle();
        for (int v = 0; ; v += 4)
        {
            if (v > wo - 4) v = wo - 4;
            var gradient = Vector128.LoadUnsafe(ref g, (nuint)v) + Vector128<float>.Zero;
            gradient &= Vector128.GreaterThan(Vector128.LoadUnsafe(ref positive, (nuint)v), Vector128<float>.Zero) | all;
            var at = Vector128.LoadUnsafe(ref a, (nuint)v);
            var ia = Vector128.Create(top + 2 * v) + steps;
            var id = ia + Vector128.Create(w);
            var ga = Vector128.Equals(at, ia).AsSingle() & gradient;
            var gb = Vector128.Equals(at, ia + Vector128<int>.One).AsSingle() & gradient;
            var gd = Vector128.Equals(at, id).AsSingle() & gradient;
            var ge = Vector128.Equals(at, id + Vector128<int>.One).AsSingle() & gradient;
            Interleave(ga, gb, ref Unsafe.Add(ref r0, 2 * v));
            Interleave(gd, ge, ref Unsafe.Add(ref r0, w + 2 * v));
            if (v == wo - 4) break;
        }
    }

    /// <summary>Stores e0 o0 e1 o1 ... e7 o7 (16 floats) at <paramref name="destination"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Interleave(Vector256<float> even, Vector256<float> odd, ref float destination)
    {
        var low = System.Runtime.Intrinsics.X86.Avx.UnpackLow(even, odd);   // e0 o0 e1 o1 | e4 o4 e5 o5
        var high = System.Runtime.Intrinsics.X86.Avx.UnpackHigh(even, odd); // e2 o2 e3 o3 | e6 o6 e7 o7
        Vector256.Create(low.GetLower(), high.GetLower()).StoreUnsafe(ref destination);
        Vector256.Create(low.GetUpper(), high.GetUpper()).StoreUnsafe(ref destination, 8);
    }

    /// <summary>Stores e0 o0 e1 o1 e2 o2 e3 o3 (8 floats) at <paramref name="destination"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Interleave(Vector128<float> even, Vector128<float> odd, ref float destination)
    {
        System.Runtime.Intrinsics.X86.Sse.UnpackLow(even, odd).StoreUnsafe(ref destination);
        System.Runtime.Intrinsics.X86.Sse.UnpackHigh(even, odd).StoreUnsafe(ref destination, 4);
    }
}

/// <summary>
/// The description of a <see cref="MaxPool2d{T}"/>: token <c>maxpool{k}</c> or <c>maxpool{kh}x{kw}</c> with options
/// <c>s{stride}</c> (default: the window) and <c>drop</c> (default) or <c>pad</c>; ONNX <c>MaxPool</c>, in 'pad'
/// mode followed by a <c>Max</c> with a floor.
/// </summary>
/// <param name="Window">The window geometry.</param>
public sealed record MaxPoolSpec(PoolWindow Window) : LayerSpec
{
    /// <inheritdoc />
    public override LayerKind Kind => MaxPoolKind.Instance;

    /// <inheritdoc />
    public override string Token => "maxpool" + Window.Suffix;

    /// <inheritdoc />
    public override Layer<T> Create<T>() => new MaxPool2d<T>(Window.Height, Window.Width, Window.Stride, Window.Edge);

    /// <summary>
    /// MaxPool; in 'pad' edge mode with the bottom/right padding as end pads, then a Max with a constant
    /// that is 0 on the windows reaching into the padding and -inf on the others: ONNX MaxPool ignores
    /// padded positions, SharpCnn's padded zeros take part in the max. (Pad(0) + MaxPool would say the
    /// same, but ONNX Runtime's optimizer folds such a Pad into MaxPool's pads and so changes the result.)
    /// </summary>
    internal override void ExportOnnx<T>(OnnxLayerExport<T> export, Layer<T> layer)
    {
        string input = export.AsMaps();
        Shape inShape = layer.InputShape, outShape = layer.OutputShape;
        var (padBottom, padRight) = PoolWindow.EndPadding(inShape, outShape, Window);
        if (padBottom >= Window.Height || padRight >= Window.Width)
            throw export.Unsupported($"on {inShape.Height}x{inShape.Width} maps has a window lying wholly in its padding; ONNX pooling needs pads smaller than the window");
        string y = export.Node("MaxPool", "maxpool", [input],
            OnnxGraphWriter.Ints("kernel_shape", Window.Height, Window.Width),
            OnnxGraphWriter.Ints("strides", Window.Stride, Window.Stride),
            OnnxGraphWriter.Ints("pads", 0, 0, padBottom, padRight));
        if (padBottom > 0 || padRight > 0)
        {
            // ONNX MaxPool ignores its pads; SharpCnn's padded zeros take part in the max. So the windows
            // that reach into the padding get max(window, 0): a Max with 0 there and -inf elsewhere.
            string floor = export.Floats("padding_floor", [1, 1, outShape.Height, outShape.Width], PaddingFloor(inShape, outShape, Window));
            y = export.Node("Max", "padding_floor", "maxpool_padded", [y, floor]);
        }
        export.Emit(y, flat: false);
    }

    /// <summary>
    /// The [Ho, Wo] floor a 'pad'-mode max pooling's output is raised to: 0 for each window that reaches
    /// into the bottom/right padding (its padded zeros take part in the max), -inf for the others.
    /// </summary>
    internal static float[] PaddingFloor(Shape input, Shape output, PoolWindow window)
    {
        var floor = new float[output.Height * output.Width];
        for (int u = 0; u < output.Height; u++)
            for (int v = 0; v < output.Width; v++)
                floor[u * output.Width + v] = u * window.Stride + window.Height > input.Height || v * window.Stride + window.Width > input.Width
                    ? 0f : float.NegativeInfinity;
        return floor;
    }
}

/// <summary>The max-pooling kind: grammar <c>maxpool{k}</c>; imports ONNX <c>MaxPool</c> and the <c>Max</c> floor after it.</summary>
public sealed partial class MaxPoolKind : LayerKind
{
    /// <summary>The registered instance.</summary>
    public static MaxPoolKind Instance { get; } = new();

    /// <inheritdoc />
    public override string Name => "maxpool";

    /// <inheritdoc />
    public override string Grammar => "maxpool{k}";

    /// <inheritdoc />
    public override string Summary => "max over k x k (or kh x kw) windows per channel; options s{stride} (default: the window), drop (default) or pad (zero-pad the bottom/right edge)";

    /// <inheritdoc />
    public override LayerTraits Traits => LayerTraits.ChangesShape | LayerTraits.Bounded;

    /// <inheritdoc />
    public override LayerSpec? Parse(LayerToken token)
    {
        ArgumentNullException.ThrowIfNull(token);
        var m = Head().Match(token.Head);
        return m.Success ? new MaxPoolSpec(PoolWindow.Parse(token, m, stridable: true)) : null;
    }

    /// <inheritdoc />
    internal override IReadOnlyList<string> OnnxOperators => ["MaxPool", "Max"];

    /// <summary>
    /// MaxPool (where its edge handling matches SharpCnn's) → maxpool; a Max right after it whose constant
    /// is 0 on the windows reaching into MaxPool's own padding and -inf on the others (what the exporter
    /// writes) makes it SharpCnn's max pooling over zero padding.
    /// </summary>
    internal override void ImportOnnx(OnnxGraphImporter import, NodeProto node)
    {
        if (node.OpType == "Max")
        {
            ImportFloor(import, node);
            return;
        }
        long height = import.Height, width = import.Width;
        var window = PoolWindow.ImportOnnx(import, node, max: true, out string? floorProblem, out var zero);
        if (floorProblem is not null)
        {
            // Windows reach into MaxPool's own (ignored) padding: only a following Max(…, floor) makes them SharpCnn's.
            // The rule, not a table: one value per window would be an allocation the file's sizes merely claim.
            var floor = new WindowFloor(window.Stride, window.Height, window.Width, height, width, zero.ZeroBottom, zero.ZeroRight);
            import.ExpectNext("Max", floorProblem, (floor, import.Height, import.Width));
        }
        import.AddLayer(new MaxPoolSpec(window), [], node);
    }

    /// <summary>
    /// Max(activation, floor) right after a 'pad'-mode MaxPool: the floor must be 0 on every window
    /// reaching into MaxPool's ignored padding and -inf on the windows inside the input (what
    /// the exporter writes); then the pair is SharpCnn's max pooling over zero padding.
    /// </summary>
    private static void ImportFloor(OnnxGraphImporter import, NodeProto node)
    {
        import.Attributes(node);
        if (import.TakeExpected("Max") is not { } expected)
            throw import.NodeFail("is imported only right after a MaxPool whose windows reach into its padding (as the floor that makes the padding count as zeros)");
        var (floor, height, width) = ((WindowFloor, long, long))expected.State;
        if (node.Input.Count != 2) throw import.NodeFail($"has {node.Input.Count} inputs, expected 2");
        import.RequireOutputs(node, 1);
        int data = node.Input[0] == import.Current ? 0 : 1;
        if (node.Input[1 - data] == import.Current) throw import.NodeFail("takes the maximum of the activation with itself");
        var c = import.ConstantInput(node, 1 - data, "floor", required: true)!;
        bool shapeFits = (c.Dims.Count == 4 && c.Dims[0] == 1 && c.Dims[1] == 1 && c.Dims[2] == height && c.Dims[3] == width)
                         || (c.Dims.Count == 2 && c.Dims[0] == height && c.Dims[1] == width);
        if (!shapeFits) throw import.NodeFail($"floor '{c.Name}' has dimensions {OnnxGraphImporter.Dims(c)}; expected [1, 1, {height}, {width}] after {expected.Node}");
        var values = OnnxTensorData.Reals(c, out string? error, allowNegativeInfinity: true);
        if (error is not null) throw import.NodeFail($"floor '{c.Name}' {error}");
        for (int i = 0; i < values.Length; i++)
        {
            float want = floor.At(i / width, i % width);
            bool ok = float.IsNaN(want) ? values[i] == 0 || double.IsNegativeInfinity(values[i]) : values[i] == want;
            if (!ok)
                throw import.NodeFail($"floor '{c.Name}' has {values[i]} at window {i / width},{i % width}; after {expected.Node} it must be {(want == 0 ? "0 (the window reaches into the padding)" : "-inf (the window lies inside the input)")}");
        }
        import.Note($"{import.Label} and {expected.Node} are SharpCnn's max pooling over zero padding");
        import.MoveLayerOutput(node);
    }

    /// <summary>
    /// What the floor after a MaxPool must hold at output window (u, v): 0 where the window reaches
    /// past the input and its zero Pad into MaxPool's own padding (it must be raised to 0), -inf where
    /// it lies inside the input (it must stay as it is), NaN where it reaches only into the zero Pad
    /// (it holds a padded zero already: either will do).
    /// </summary>
    private readonly record struct WindowFloor(long Stride, long KernelHeight, long KernelWidth, long Height, long Width, long ZeroBottom, long ZeroRight)
    {
        public float At(long u, long v)
        {
            long endRow = u * Stride + KernelHeight, endCol = v * Stride + KernelWidth;
            return endRow > Height + ZeroBottom || endCol > Width + ZeroRight ? 0f
                : endRow <= Height && endCol <= Width ? float.NegativeInfinity
                : float.NaN;
        }
    }

    [GeneratedRegex(@"^maxpool(\d+)(?:x(\d+))?$")]
    private static partial Regex Head();
}
