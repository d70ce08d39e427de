// Direct convolution for inference: no column matrix, weights packed once, the input read in place.
//
//   y[o, u, v] = Σ_{c,i,j} w[o, c, i, j] · xp[c, u·s + i, v·s + j]        (xp: the input with its zero border)
//
// Layout. The weights are packed once (and again only when they change) into blocks of B output channels
// (B = two registers of the widest width: 32 floats on AVX-512, 16 on AVX2, 8 on SSE, 2 scalars):
//   packed[(ob·K + p)·B + l] = w[ob·B + l, p]      p = (c·kh + i)·kw + j, K = Cin·kh·kw; 0 past the last channel
// and a table of input offsets off[p] = c·ph·pw + i·pw + j turns tap p into a read of the padded sample.
// The micro-kernel holds R ≤ 6 output positions of one output row x 2 registers of channels in 12
// accumulators; per tap it loads 2 weight registers and broadcasts R input values (an NCHWc-style kernel
// as in ONNX Runtime's MLAS or oneDNN, vectorised across output channels).
//
// Order (docs/DETERMINISM.md). A lane is one output y[o, u, v], never part of a sum; the sum over p is cut
// into the GEMM's slices (Gemm.DepthSlice(K), from K alone), each slice summed from zero with one fused
// multiply-add per p in increasing p, the first slice stored, each later slice added, in slice order. That
// is exactly the im2col + GEMM order of Conv2d.Forward (its GEMM is W[Cout, K] · cols[K, P], the same sum
// per output in the same slices), so the direct kernel gives the layer's bits on every width and for any
// block, strip or partition: the tests compare them bit for bit.
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace SharpCnn.Kernels;

/// <summary>
/// One convolution's shape, its packed weights and the direct kernel that computes its sums (without the bias)
/// for a block of output channels over a range of output rows of one sample, from the sample with its zero border.
/// </summary>
internal sealed class DirectConvolution<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>Output positions per micro-kernel strip.</summary>
    private const int StripLength = 6;

    private readonly int[] offsets;
    private readonly int depthSlice;
    private T[] packed = [];
    private T[] packedFrom = [];

    /// <summary>A convolution of <paramref name="channels"/> x <paramref name="height"/> x <paramref name="width"/> inputs with the given kernel, stride and zero padding.</summary>
    public DirectConvolution(int channels, int height, int width, int outChannels, int kernelHeight, int kernelWidth, int stride,
        int padTop, int padBottom, int padLeft, int padRight)
    {
        Channels = channels;
        Height = height;
        Width = width;
        OutChannels = outChannels;
        KernelHeight = kernelHeight;
        KernelWidth = kernelWidth;
        Stride = stride;
        PadTop = padTop;
        PadLeft = padLeft;
        PaddedHeight = height + padTop + padBottom;
        PaddedWidth = width + padLeft + padRight;
        OutHeight = (PaddedHeight - kernelHeight) / stride + 1;
        OutWidth = (PaddedWidth - kernelWidth) / stride + 1;
        Depth = channels * kernelHeight * kernelWidth;
        depthSlice = Gemm.DepthSlice(Depth);
        Block = 2 * Lanes;
        Blocks = (outChannels + Block - 1) / Block;
        offsets = new int[Depth];
        for (int c = 0, p = 0; c < channels; c++)
            for (int i = 0; i < kernelHeight; i++)
                for (int j = 0; j < kernelWidth; j++)
                    offsets[p++] = (c * PaddedHeight + i) * PaddedWidth + j;
    }

    public int Channels { get; }
    public int Height { get; }
    public int Width { get; }
    public int OutChannels { get; }
    public int KernelHeight { get; }
    public int KernelWidth { get; }
    public int Stride { get; }
    public int PadTop { get; }
    public int PadLeft { get; }
    public int PaddedHeight { get; }
    public int PaddedWidth { get; }
    public int OutHeight { get; }
    public int OutWidth { get; }

    /// <summary>K = Cin·kh·kw, the depth of each output's sum.</summary>
    public int Depth { get; }

    /// <summary>Output channels per block (two registers of the width the kernel runs on).</summary>
    public int Block { get; }

    /// <summary>Blocks of output channels (the last may be partly empty).</summary>
    public int Blocks { get; }

    /// <summary>Values of one padded input sample.</summary>
    public int PaddedSize => Channels * PaddedHeight * PaddedWidth;

    /// <summary>Lanes of the register the kernel runs on (the same choice as <see cref="Gemm"/>).</summary>
    private static int Lanes
    {
        get
        {
            if (typeof(T) == typeof(float) || typeof(T) == typeof(double))
            {
                if (Vector512.IsHardwareAccelerated) return Vector512<T>.Count;
                if (Vector256.IsHardwareAccelerated) return Vector256<T>.Count;
                if (Vector128.IsHardwareAccelerated) return Vector128<T>.Count;
            }
            return 1;
        }
    }

    /// <summary>
    /// Packs <paramref name="weights"/> [Cout, Cin, kh, kw] into blocks, unless they are bit for bit the weights packed last
    /// (a copy is kept to tell): a model's weights are packed once, and again only after they change.
    /// </summary>
    public void Pack(ReadOnlySpan<T> weights)
    {
        int k = Depth, block = Block;
        if (weights.Length != OutChannels * k) throw new ArgumentException($"the weights have {weights.Length} values, {OutChannels}x{k} expected", nameof(weights));
        if (packedFrom.Length == weights.Length && MemoryMarshal.AsBytes(weights).SequenceEqual(MemoryMarshal.AsBytes(packedFrom.AsSpan()))) return;
        if (packed.Length == 0)
        {
            packed = new T[Blocks * k * block];
            packedFrom = new T[weights.Length];
        }
        for (int ob = 0; ob < Blocks; ob++)
        {
            Span<T> panel = packed.AsSpan(ob * k * block, k * block);
            int lanes = Math.Min(block, OutChannels - ob * block);
            if (lanes < block) panel.Clear();
            for (int l = 0; l < lanes; l++)
            {
                ReadOnlySpan<T> row = weights.Slice((ob * block + l) * k, k);
                for (int p = 0; p < k; p++) panel[p * block + l] = row[p];
            }
        }
        weights.CopyTo(packedFrom);
    }

    /// <summary>
    /// The sums (no bias) of block <paramref name="outBlock"/>'s channels at output rows <paramref name="firstRow"/> ..
    /// + <paramref name="rows"/>, from one padded sample <paramref name="padded"/> (Cin x ph x pw), into
    /// <paramref name="tile"/>[(r·Wo + v)·Block + l] for output row firstRow + r, column v, channel outBlock·Block + l.
    /// </summary>
    public void Compute(ReadOnlySpan<T> padded, int outBlock, int firstRow, int rows, Span<T> tile)
    {
        if (packed.Length == 0) throw new InvalidOperationException("Pack the weights before computing");
        if ((uint)outBlock >= (uint)Blocks || firstRow < 0 || rows < 0 || firstRow + rows > OutHeight
            || padded.Length < PaddedSize || tile.Length < rows * OutWidth * Block)
            throw new ArgumentException("DirectConvolution.Compute: block, rows or spans out of range");
        if (rows == 0) return;
        if (typeof(T) == typeof(float) || typeof(T) == typeof(double))
        {
            if (Vector512.IsHardwareAccelerated)
            {
                Run<Vector512<T>, Width512<T>>(padded, outBlock, firstRow, rows, tile);
                return;
            }
            if (Vector256.IsHardwareAccelerated)
            {
                Run<Vector256<T>, Width256<T>>(padded, outBlock, firstRow, rows, tile);
                return;
            }
            if (Vector128.IsHardwareAccelerated)
            {
                Run<Vector128<T>, Width128<T>>(padded, outBlock, firstRow, rows, tile);
                return;
            }
        }
        Run<T, WidthScalar<T>>(padded, outBlock, firstRow, rows, tile);
    }

    /// <summary>
    /// The epilogue of a tile of sums (<paramref name="rows"/> output rows x Wo x Block, as <see cref="Compute"/> writes it):
    /// s + b[l], then ((· - μ[l])·a[l]) + β[l] when <paramref name="norm"/> is not empty (μ, a, β one after the other, Block
    /// values each: batch normalisation's evaluation form), then max(·, 0) when <paramref name="reluBefore"/>, then, when <paramref name="pool"/>, the 2x2/2 max pooling
    /// (windows in row-major order, a larger value or a NaN over a number replacing the best so far, as MaxPool2d), then
    /// max(·, 0) when <paramref name="reluAfter"/>; into <paramref name="result"/> in the same layout (rows/2 x Wo/2 when pooling).
    /// Each lane does what the layers do to one value, element by element, so the bits are theirs.
    /// </summary>
    public void Finish(ReadOnlySpan<T> tile, int rows, ReadOnlySpan<T> bias, ReadOnlySpan<T> norm, bool reluBefore, bool pool, bool reluAfter, Span<T> result)
    {
        int bs = Block, wo = OutWidth;
        int outRows = pool ? rows / 2 : rows, outWidth = pool ? wo / 2 : wo;
        if (tile.Length < rows * wo * bs || bias.Length < bs || (!norm.IsEmpty && norm.Length < 3 * bs) || result.Length < outRows * outWidth * bs)
            throw new ArgumentException("DirectConvolution.Finish: spans too short");
        if (typeof(T) == typeof(float) || typeof(T) == typeof(double))
        {
            if (Vector512.IsHardwareAccelerated)
            {
                Finish<Vector512<T>, Width512<T>>(tile, rows, bias, norm, reluBefore, pool, reluAfter, result);
                return;
            }
            if (Vector256.IsHardwareAccelerated)
            {
                Finish<Vector256<T>, Width256<T>>(tile, rows, bias, norm, reluBefore, pool, reluAfter, result);
                return;
            }
            if (Vector128.IsHardwareAccelerated)
            {
                Finish<Vector128<T>, Width128<T>>(tile, rows, bias, norm, reluBefore, pool, reluAfter, result);
                return;
            }
        }
        Finish<T, WidthScalar<T>>(tile, rows, bias, norm, reluBefore, pool, reluAfter, result);
    }

    private void Finish<TVector, TWidth>(ReadOnlySpan<T> tile, int rows, ReadOnlySpan<T> bias, ReadOnlySpan<T> norm, bool reluBefore, bool pool, bool reluAfter, Span<T> result)
        where TVector : struct
        where TWidth : struct, IVectorWidth<TVector, T>
    {
        nint lanes = TWidth.Count;
        int bs = Block, wo = OutWidth;
        ref T t = ref MemoryMarshal.GetReference(tile);
        ref T y = ref MemoryMarshal.GetReference(result);
        ref T br = ref MemoryMarshal.GetReference(bias);
        bool normalise = !norm.IsEmpty;
        ref T nr = ref MemoryMarshal.GetReference(norm);
        for (nint h = 0; h < bs; h += lanes)
        {
            TVector b = TWidth.Load(ref Unsafe.Add(ref br, h));
            TVector mu = TWidth.Zero, a = TWidth.Zero, beta = TWidth.Zero;
            if (normalise)
            {
                mu = TWidth.Load(ref Unsafe.Add(ref nr, h));
                a = TWidth.Load(ref Unsafe.Add(ref nr, bs + h));
                beta = TWidth.Load(ref Unsafe.Add(ref nr, 2 * bs + h));
            }
            if (!pool)
            {
                for (nint i = 0, count = (nint)rows * wo; i < count; i++)
                {
                    TVector v = TWidth.Add(TWidth.Load(ref Unsafe.Add(ref t, i * bs + h)), b);
                    if (normalise) v = TWidth.Add(TWidth.Multiply(TWidth.Subtract(v, mu), a), beta);
                    if (reluBefore) v = TWidth.Max(v, TWidth.Zero);
                    TWidth.Store(v, ref Unsafe.Add(ref y, i * bs + h));
                }
                continue;
            }
            int ow = wo / 2;
            for (nint u = 0; u < rows / 2; u++)
            {
                ref T top = ref Unsafe.Add(ref t, 2 * u * wo * bs + h);
                ref T bottom = ref Unsafe.Add(ref top, (nint)wo * bs);
                for (nint v = 0; v < ow; v++)
                {
                    TVector best = Activate<TVector, TWidth>(TWidth.Load(ref Unsafe.Add(ref top, 2 * v * bs)), b, normalise, mu, a, beta, reluBefore);
                    best = Better<TVector, TWidth>(Activate<TVector, TWidth>(TWidth.Load(ref Unsafe.Add(ref top, (2 * v + 1) * bs)), b, normalise, mu, a, beta, reluBefore), best);
                    best = Better<TVector, TWidth>(Activate<TVector, TWidth>(TWidth.Load(ref Unsafe.Add(ref bottom, 2 * v * bs)), b, normalise, mu, a, beta, reluBefore), best);
                    best = Better<TVector, TWidth>(Activate<TVector, TWidth>(TWidth.Load(ref Unsafe.Add(ref bottom, (2 * v + 1) * bs)), b, normalise, mu, a, beta, reluBefore), best);
                    if (reluAfter) best = TWidth.Max(best, TWidth.Zero);
                    TWidth.Store(best, ref Unsafe.Add(ref y, (u * ow + v) * bs + h));
                }
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static TVector Activate<TVector, TWidth>(TVector sum, TVector b, bool normalise, TVector mu, TVector a, TVector beta, bool relu)
        where TVector : struct
        where TWidth : struct, IVectorWidth<TVector, T>
    {
        TVector v = TWidth.Add(sum, b);
        if (normalise) v = TWidth.Add(TWidth.Multiply(TWidth.Subtract(v, mu), a), beta);
        return relu ? TWidth.Max(v, TWidth.Zero) : v;
    }

    /// <summary>MaxPool2d's test lane by lane: <paramref name="value"/> replaces <paramref name="best"/> when larger, or when it is a NaN and best is not.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static TVector Better<TVector, TWidth>(TVector value, TVector best)
        where TVector : struct
        where TWidth : struct, IVectorWidth<TVector, T>
    {
        TVector valueIsNumber = TWidth.EqualTo(value, value), bestIsNumber = TWidth.EqualTo(best, best);
        TVector nanOverNumber = TWidth.And(bestIsNumber, TWidth.Xor(valueIsNumber, TWidth.EqualTo(TWidth.Zero, TWidth.Zero)));
        return TWidth.Select(TWidth.Or(TWidth.LessThan(best, value), nanOverNumber), value, best);
    }

    private void Run<TVector, TWidth>(ReadOnlySpan<T> padded, int outBlock, int firstRow, int rows, Span<T> tile)
        where TVector : struct
        where TWidth : struct, IVectorWidth<TVector, T>
    {
        int k = Depth, kc = depthSlice, block = Block, wo = OutWidth, s = Stride, pw = PaddedWidth;
        ref T x = ref MemoryMarshal.GetReference(padded);
        ref T w = ref packed[outBlock * k * block];
        ref int off = ref offsets[0];
        ref T t = ref MemoryMarshal.GetReference(tile);
        bool unit = s == 1;
        // Strips of equal length (14 positions: 5, 5, 4 rather than 6, 6, 2): short strips pay the same loads per tap for fewer multiply-adds.
        int strips = (wo + StripLength - 1) / StripLength, strip = (wo + strips - 1) / strips;
        // Slices outermost: a slice of the block's weights (kc x Block values) stays in L1 over every strip.
        for (int p0 = 0; p0 < k; p0 += kc)
        {
            int p1 = Math.Min(k, p0 + kc);
            bool overwrite = p0 == 0;
            for (int r = 0; r < rows; r++)
            {
                ref T row = ref Unsafe.Add(ref x, (nint)(firstRow + r) * s * pw);
                for (int v = 0; v < wo; v += strip)
                {
                    ref T input = ref Unsafe.Add(ref row, (nint)v * s);
                    ref T output = ref Unsafe.Add(ref t, ((nint)r * wo + v) * block);
                    int count = Math.Min(strip, wo - v);
                    if (unit)
                    {
                        switch (count)
                        {
                            case 6: Strip<TVector, TWidth, Six, One>(p0, p1, ref input, 1, ref off, ref w, ref output, overwrite); break;
                            case 5: Strip<TVector, TWidth, Five, One>(p0, p1, ref input, 1, ref off, ref w, ref output, overwrite); break;
                            case 4: Strip<TVector, TWidth, Four, One>(p0, p1, ref input, 1, ref off, ref w, ref output, overwrite); break;
                            case 3: Strip<TVector, TWidth, Three, One>(p0, p1, ref input, 1, ref off, ref w, ref output, overwrite); break;
                            case 2: Strip<TVector, TWidth, Two, One>(p0, p1, ref input, 1, ref off, ref w, ref output, overwrite); break;
                            default: Strip<TVector, TWidth, One, One>(p0, p1, ref input, 1, ref off, ref w, ref output, overwrite); break;
                        }
                    }
                    else
                    {
                        switch (count)
                        {
                            case 6: Strip<TVector, TWidth, Six, Zero>(p0, p1, ref input, s, ref off, ref w, ref output, overwrite); break;
                            case 5: Strip<TVector, TWidth, Five, Zero>(p0, p1, ref input, s, ref off, ref w, ref output, overwrite); break;
                            case 4: Strip<TVector, TWidth, Four, Zero>(p0, p1, ref input, s, ref off, ref w, ref output, overwrite); break;
                            case 3: Strip<TVector, TWidth, Three, Zero>(p0, p1, ref input, s, ref off, ref w, ref output, overwrite); break;
                            case 2: Strip<TVector, TWidth, Two, Zero>(p0, p1, ref input, s, ref off, ref w, ref output, overwrite); break;
                            default: Strip<TVector, TWidth, One, Zero>(p0, p1, ref input, s, ref off, ref w, ref output, overwrite); break;
                        }
                    }
                }
            }
        }
    }

    /// <summary>
    /// TCount (1..6) positions, one stride apart from <paramref name="x"/>, x 2 registers of channels: the slice p0 .. p1
    /// of each output's sum, from zero, one fused multiply-add per tap in increasing p; stored to (or added to) the tile.
    /// TUnit is One for stride 1 (the distance is then a constant), Zero for any other stride.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Strip<TVector, TWidth, TCount, TUnit>(int p0, int p1, ref T x, nint stride, ref int off, ref T w, ref T tile, bool overwrite)
        where TVector : struct
        where TWidth : struct, IVectorWidth<TVector, T>
        where TCount : struct, IConstant
        where TUnit : struct, IConstant
    {
        nint lanes = TWidth.Count;
        nint s = TUnit.Value == 1 ? 1 : stride;
        int n = TCount.Value;
        TVector a00 = TWidth.Zero, a01 = TWidth.Zero, a10 = TWidth.Zero, a11 = TWidth.Zero, a20 = TWidth.Zero, a21 = TWidth.Zero;
        TVector a30 = TWidth.Zero, a31 = TWidth.Zero, a40 = TWidth.Zero, a41 = TWidth.Zero, a50 = TWidth.Zero, a51 = TWidth.Zero;
        ref T wp = ref Unsafe.Add(ref w, (nint)p0 * 2 * lanes);
        for (int p = p0; p < p1; p++)
        {
            ref T xi = ref Unsafe.Add(ref x, Unsafe.Add(ref off, p));
            TVector w0 = TWidth.Load(ref wp);
            TVector w1 = TWidth.Load(ref Unsafe.Add(ref wp, lanes));
            TVector b = TWidth.Broadcast(xi);
            a00 = TWidth.MultiplyAdd(b, w0, a00);
            a01 = TWidth.MultiplyAdd(b, w1, a01);
            if (n > 1)
            {
                b = TWidth.Broadcast(Unsafe.Add(ref xi, s));
                a10 = TWidth.MultiplyAdd(b, w0, a10);
                a11 = TWidth.MultiplyAdd(b, w1, a11);
            }
            if (n > 2)
            {
                b = TWidth.Broadcast(Unsafe.Add(ref xi, 2 * s));
                a20 = TWidth.MultiplyAdd(b, w0, a20);
                a21 = TWidth.MultiplyAdd(b, w1, a21);
            }
            if (n > 3)
            {
                b = TWidth.Broadcast(Unsafe.Add(ref xi, 3 * s));
                a30 = TWidth.MultiplyAdd(b, w0, a30);
                a31 = TWidth.MultiplyAdd(b, w1, a31);
            }
            if (n > 4)
            {
                b = TWidth.Broadcast(Unsafe.Add(ref xi, 4 * s));
                a40 = TWidth.MultiplyAdd(b, w0, a40);
                a41 = TWidth.MultiplyAdd(b, w1, a41);
            }
            if (n > 5)
            {
                b = TWidth.Broadcast(Unsafe.Add(ref xi, 5 * s));
                a50 = TWidth.MultiplyAdd(b, w0, a50);
                a51 = TWidth.MultiplyAdd(b, w1, a51);
            }
            wp = ref Unsafe.Add(ref wp, 2 * lanes);
        }
        Store<TVector, TWidth>(ref tile, lanes, a00, a01, overwrite);
        if (n > 1) Store<TVector, TWidth>(ref Unsafe.Add(ref tile, 2 * lanes), lanes, a10, a11, overwrite);
        if (n > 2) Store<TVector, TWidth>(ref Unsafe.Add(ref tile, 4 * lanes), lanes, a20, a21, overwrite);
        if (n > 3) Store<TVector, TWidth>(ref Unsafe.Add(ref tile, 6 * lanes), lanes, a30, a31, overwrite);
        if (n > 4) Store<TVector, TWidth>(ref Unsafe.Add(ref tile, 8 * lanes), lanes, a40, a41, overwrite);
        if (n > 5) Store<TVector, TWidth>(ref Unsafe.Add(ref tile, 10 * lanes), lanes, a50, a51, overwrite);
    }

    /// <summary>
    /// The micro-kernel for other kernels (Winograd's products): <paramref name="count"/> (1..6) positions <paramref name="stride"/>
    /// apart from <paramref name="x"/> x 2 registers of channels, each output Σ_p w[p]·x[off[p] + position·stride] for p in
    /// 0 .. <paramref name="depth"/> from zero, one fused multiply-add per p in increasing p; stored to <paramref name="output"/>.
    /// </summary>
    internal static void Product<TVector, TWidth>(int count, int depth, ref T x, nint stride, ref int off, ref T w, ref T output)
        where TVector : struct
        where TWidth : struct, IVectorWidth<TVector, T>
    {
        switch (count)
        {
            case 6: Strip<TVector, TWidth, Six, Zero>(0, depth, ref x, stride, ref off, ref w, ref output, true); break;
            case 5: Strip<TVector, TWidth, Five, Zero>(0, depth, ref x, stride, ref off, ref w, ref output, true); break;
            case 4: Strip<TVector, TWidth, Four, Zero>(0, depth, ref x, stride, ref off, ref w, ref output, true); break;
            case 3: Strip<TVector, TWidth, Three, Zero>(0, depth, ref x, stride, ref off, ref w, ref output, true); break;
            case 2: Strip<TVector, TWidth, Two, Zero>(0, depth, ref x, stride, ref off, ref w, ref output, true); break;
            case 1: Strip<TVector, TWidth, One, Zero>(0, depth, ref x, stride, ref off, ref w, ref output, true); break;
            default: throw new ArgumentOutOfRangeException(nameof(count), count, "a strip has 1 to 6 positions");
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store<TVector, TWidth>(ref T tile, nint lanes, TVector v0, TVector v1, bool overwrite)
        where TVector : struct
        where TWidth : struct, IVectorWidth<TVector, T>
    {
        ref T t1 = ref Unsafe.Add(ref tile, lanes);
        if (!overwrite)
        {
            v0 = TWidth.Add(TWidth.Load(ref tile), v0);
            v1 = TWidth.Add(TWidth.Load(ref t1), v1);
        }
        TWidth.Store(v0, ref tile);
        TWidth.Store(v1, ref t1);
    }

    /// <summary>A compile-time integer for the JIT to specialise a kernel on.</summary>
    private interface IConstant
    {
        static abstract int Value { get; }
    }

    private readonly struct Zero : IConstant { public static int Value => 0; }
    private readonly struct One : IConstant { public static int Value => 1; }
    private readonly struct Two : IConstant { public static int Value => 2; }
    private readonly struct Three : IConstant { public static int Value => 3; }
    private readonly struct Four : IConstant { public static int Value => 4; }
    private readonly struct Five : IConstant { public static int Value => 5; }
    private readonly struct Six : IConstant { public static int Value => 6; }
}
