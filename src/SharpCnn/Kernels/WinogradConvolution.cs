// Winograd convolution for inference and for float training's forward pass, input gradient and weight gradient (Conv2d):
// F(2x2, 5x5) and F(4x4, 3x3), stride 1, on 6x6 input tiles. The weight gradient's formulas are above WeightGradient below.
//
// A tile of m x m outputs (m = 2 for 5x5 kernels, m = 4 for 3x3; α = m + r - 1 = 6 either way) is
//   Y = Aᵀ [ Σ_c (G g_{o,c} Gᵀ) ⊙ (Bᵀ d_c B) ] A
// with the points 0, 1, -1, 2, -2 and ∞ (Lavin and Gray's construction). Bᵀ (6x6) is the same for both sizes:
//   v0 = 4·(d0 − d2) + (d4 − d2)          v3 = (d4 − d2) + 2·(d3 − d1)
//   v1 = (d3 + d4) − 4·(d1 + d2)          v4 = (d4 − d2) − 2·(d3 − d1)
//   v2 = (d4 − d3) + 4·(d1 − d2)          v5 = 4·(d1 − d3) + (d5 − d3)
// Aᵀ (m x 6) for m = 2:  y0 = m0 + ((m1 + m2) + (m3 + m4));   y1 = ((m1 − m2) + 2·(m3 − m4)) + m5
//          for m = 4:  y0 = m0 + ((m1 + m2) + (m3 + m4));   y1 = (m1 − m2) + 2·(m3 − m4)
//                      y2 = (m1 + m2) + 4·(m3 + m4);         y3 = ((m1 − m2) + 8·(m3 − m4)) + m5
// and G (6 x r) has G[j][k] = a_jᵏ / Π_{l≠j}(a_j − a_l) for the finite points a_j, G[5] = (0, .., 0, 1).
// The products by 2, 4 and 8 are exact, so every value of a transform is a fixed sequence of adds and subtracts,
// each rounded once; the filter's transform G g Gᵀ is computed in double (Σ over i, then over k, in increasing
// order) and rounded once to T, once per change of the weights (not per call).
//
// The order (docs/DETERMINISM.md). Both transforms go columns first (Bᵀ d, then · B; Aᵀ M, then · A), each value by the
// formulas above. The product per frequency ξ = 6·k + l is M[ξ][tile][o] = Σ_c U[ξ][c][o]·V[ξ][tile][c]: one sum per
// output channel (a lane), from zero, one fused multiply-add per input channel in increasing c (the direct
// kernel's strip with a unit offset table). Vectors hold channels side by side (input channels in the input
// transform, output channels in the product and the output transform), never parts of one value, so every width, any
// split of the tiles into strips or partitions and any thread count give the same bits, and WinogradReference (plain
// scalar loops in the same order) gives them too.
//
// Layout. The input is the padded sample channels last: xp[(row·PW + col)·Cin + c], with the convolution's own
// zero border plus, at the bottom and right, zeros up to whole tiles. V[ξ][tile][c] and M[ξ][tile][l] (one block of
// output channels) live in thread scratch; the output transform writes the layout DirectConvolution.Finish reads.
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace SharpCnn.Kernels;

/// <summary>One Winograd convolution's shape, its transformed filters and its three steps (input transform, products, output transform).</summary>
internal sealed class WinogradConvolution<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>Input tile size α.</summary>
    public const int Alpha = 6;

    /// <summary>Frequencies per tile (α²).</summary>
    public const int Frequencies = Alpha * Alpha;

    private readonly int[] identity;
    private T[] packed = [];
    private T[] packedFrom = [];

    /// <summary>
    /// True when the inference plan uses Winograd for a convolution of this shape (the fixed rule of docs/PERFORMANCE.md,
    /// "Winograd", from measurements): float, a square 5x5 kernel (F(2x2, 5x5)) or 3x3 kernel (F(4x4, 3x3)), stride 1, at
    /// least 16 input channels (at 8 the direct kernel was faster: the per-frequency sums are too short) and an output at
    /// least 4 x 4. Double keeps the direct kernel, whose bits are the layer's.
    /// </summary>
    public static bool Chooses(int channels, int outHeight, int outWidth, int kernelHeight, int kernelWidth, int stride) =>
        typeof(T) == typeof(float) && kernelHeight == kernelWidth && (kernelHeight == 5 || kernelHeight == 3) && stride == 1
        && channels >= MinimumChannels && outHeight >= 4 && outWidth >= 4;

    /// <summary>
    /// Floating-point operations of the element-wise products of one sample (a multiply-add counts 2): per tile and
    /// frequency, an OutChannels x Channels matrix times the tile's transformed input. The input, filter and output
    /// transforms come on top and are not counted: a lower bound of the arithmetic done.
    /// </summary>
    public long MultiplyFlops => 2L * Frequencies * Channels * OutChannels * TileRows * TileColumns;

    /// <summary>Fewest input channels for which the plan uses Winograd.</summary>
    public const int MinimumChannels = 16;

    /// <summary>A stride-1 convolution of <paramref name="channels"/> x <paramref name="height"/> x <paramref name="width"/> inputs with a square <paramref name="kernel"/> (3 or 5) and the given zero padding; <paramref name="block"/> output channels per block (two registers).</summary>
    /// <remarks>
    /// Without flipped, <see cref="Pack"/> takes filters w[o, c, i, j] ([OutChannels, Channels, r, r]). With flipped it takes a layer's weights
    /// w[c, o, i, j] ([Channels, OutChannels, r, r]) and convolves with w'[o, c, i, j] = w[c, o, r−1−i, r−1−j], the filters of
    /// the layer's input gradient (docs/MATH.md, "Winograd convolution in training").
    /// </remarks>
    public WinogradConvolution(int channels, int height, int width, int outChannels, int kernel, int padTop, int padBottom, int padLeft, int padRight, int block,
        bool flipped = false)
    {
        Flipped = flipped;
        if (kernel != 3 && kernel != 5) throw new ArgumentOutOfRangeException(nameof(kernel), kernel, "Winograd convolution takes 3x3 or 5x5 kernels");
        Channels = channels;
        Height = height;
        Width = width;
        OutChannels = outChannels;
        Kernel = kernel;
        TileSize = Alpha + 1 - kernel;
        PadTop = padTop;
        PadLeft = padLeft;
        OutHeight = height + padTop + padBottom - kernel + 1;
        OutWidth = width + padLeft + padRight - kernel + 1;
        if (OutHeight < 1 || OutWidth < 1) throw new ArgumentException("the kernel does not fit the padded input");
        TileRows = (OutHeight + TileSize - 1) / TileSize;
        TileColumns = (OutWidth + TileSize - 1) / TileSize;
        PaddedHeight = TileRows * TileSize + kernel - 1;
        PaddedWidth = TileColumns * TileSize + kernel - 1;
        Block = block;
        Blocks = (outChannels + block - 1) / block;
        identity = new int[channels];
        for (int c = 0; c < channels; c++) identity[c] = c;
    }

    public int Channels { get; }

    /// <summary>True when <see cref="Pack"/> takes the weights of the layer whose input gradient this convolution computes (flipped and transposed).</summary>
    public bool Flipped { get; }

    public int Height { get; }
    public int Width { get; }
    public int OutChannels { get; }
    public int Kernel { get; }

    /// <summary>m: outputs per tile side (2 for 5x5 kernels, 4 for 3x3).</summary>
    public int TileSize { get; }

    public int PadTop { get; }
    public int PadLeft { get; }
    public int OutHeight { get; }
    public int OutWidth { get; }
    public int TileRows { get; }
    public int TileColumns { get; }

    /// <summary>Rows of the padded input: the convolution's border, then zeros down to whole tiles.</summary>
    public int PaddedHeight { get; }

    /// <summary>Columns of the padded input.</summary>
    public int PaddedWidth { get; }

    /// <summary>Values of one padded sample (channels last).</summary>
    public int PaddedSize => PaddedHeight * PaddedWidth * Channels;

    public int Block { get; }
    public int Blocks { get; }

    /// <summary>The transformed filters, [ξ][block][c][l] (zero past the last output channel).</summary>
    internal ReadOnlySpan<T> Packed => packed;

    /// <summary>
    /// Transforms <paramref name="weights"/> [Cout, Cin, r, r] (U = G g Gᵀ per output and input channel; with <see cref="Flipped"/>,
    /// [Cin, Cout, r, r] read flipped), unless they are bit for bit the weights transformed last (a copy is kept to tell). The
    /// blocks of output channels are transformed in parallel (each block's values are computed the same way on any thread), so
    /// the result never depends on the thread count. Call it outside parallel work.
    /// </summary>
    public void Pack(ReadOnlySpan<T> weights)
    {
        int r = Kernel, cin = Channels;
        if (weights.Length != OutChannels * cin * r * r)
            throw new ArgumentException(Flipped
                ? $"the weights have {weights.Length} values, {cin}x{OutChannels}x{r}x{r} expected"
                : $"the weights have {weights.Length} values, {OutChannels}x{cin}x{r}x{r} expected", nameof(weights));
        if (packedFrom.Length == weights.Length && MemoryMarshal.AsBytes(weights).SequenceEqual(MemoryMarshal.AsBytes(packedFrom.AsSpan()))) return;
        if (packed.Length == 0)
        {
            // Zero past the last output channel, never written afterwards.
            packed = new T[Frequencies * Blocks * cin * Block];
            packedFrom = new T[weights.Length];
        }
        weights.CopyTo(packedFrom);
        // Every transformed filter is computed on its own, so any cut of the (block, input channel) pairs gives the same
        // bits: blocks times groups of input channels, at least four partitions per thread where the channels allow.
        int groups = Math.Clamp((4 * Parallelism.ThreadCount + Blocks - 1) / Blocks, 1, cin);
        var work = new PackWork { Convolution = this, Groups = groups };
        Parallelism.For(Blocks * groups, ref work);
    }

    private ref struct PackWork : IPartitionedWork
    {
        public WinogradConvolution<T> Convolution;
        public int Groups;

        public readonly void Run(int partition) => Convolution.PackBlock(partition / Groups, partition % Groups, Groups);
    }

    /// <summary>
    /// The transformed filters of block <paramref name="b"/>'s output channels for group <paramref name="group"/> of the input
    /// channels (from the copy of the weights): four output channels at a time (<see cref="PackQuads"/>, one filter per lane of a
    /// Vector256&lt;double&gt;; the lanes never meet, and each value is the same multiplies and adds in the same order as
    /// <see cref="TransformFilter"/>, which does the output channels left over: the same bits on every width).
    /// </summary>
    private void PackBlock(int b, int group, int groups)
    {
        int r = Kernel, taps = r * r, cin = Channels, cout = OutChannels, bs = Block, blocks = Blocks;
        var (c0, count) = Parallelism.Range(cin, groups, group);
        ReadOnlySpan<T> weights = packedFrom;
        Span<T> to = packed;
        Span<double> g = stackalloc double[25];
        Span<double> u = stackalloc double[Frequencies];
        int last = Math.Min(cout, (b + 1) * bs);
        nint frequency = (nint)blocks * cin * bs;
        // Tap i of the filter from input channel c to output channel o is weights[First(o, c) + Step(i)].
        bool flipped = Flipped;
        int First(int o, int c) => flipped ? (c * cout + o) * taps + taps - 1 : (o * cin + c) * taps;
        int Step(int i) => flipped ? -i : i;
        for (int c = c0; c < c0 + count; c++)
        {
            int o = PackQuads(b, c, b * bs, last);
            for (; o < last; o++)
            {
                for (int i = 0, first = First(o, c); i < taps; i++) g[i] = double.CreateTruncating(weights[first + Step(i)]);
                TransformFilter(g, r, u);
                int at = (b * cin + c) * bs + (o - b * bs);
                for (int xi = 0; xi < Frequencies; xi++) to[(int)(at + xi * frequency)] = T.CreateTruncating(u[xi]);
            }
        }
    }

    /// <summary>
    /// The transformed filters from input channel <paramref name="c"/> to output channels <paramref name="o"/> ..
    /// <paramref name="last"/> of block <paramref name="b"/>, four at a time in the lanes of a Vector256&lt;double&gt;; returns the first
    /// output channel left over (fewer than four). The same multiplies and adds in the same order as <see cref="TransformFilter"/>
    /// (a product, then its sum, each rounded in double; never fused), and the same rounding to T, so the same bits; what
    /// makes it fast is only the data movement: the filter taps are read straight into vectors, the G coefficients are
    /// broadcast once (<see cref="FilterVectors5"/>), and (float) each frequency's four values are narrowed and stored as one vector.
    /// </summary>
    private int PackQuads(int b, int c, int o, int last)
    {
        int r = Kernel, taps = r * r, cin = Channels, cout = OutChannels, bs = Block;
        ref T weights = ref MemoryMarshal.GetArrayDataReference(packedFrom);
        ref T to = ref MemoryMarshal.GetArrayDataReference(packed);
        ref Vector256<double> gm = ref MemoryMarshal.GetArrayDataReference(r == 3 ? FilterVectors3 : FilterVectors5);
        nint frequency = (nint)Blocks * cin * bs;
        bool flipped = Flipped;
        nint laneStride = flipped ? taps : (nint)cin * taps, step = flipped ? -1 : 1;
        var filterRegisters = default(Registers36<Vector256<double>>);
        var halfRegisters = default(Registers36<Vector256<double>>); // T, 6 rows of 5 (3 used for r = 3)
        ref Vector256<double> g = ref Unsafe.As<Registers36<Vector256<double>>, Vector256<double>>(ref filterRegisters);
        ref Vector256<double> t = ref Unsafe.As<Registers36<Vector256<double>>, Vector256<double>>(ref halfRegisters);
        for (; o + 4 <= last; o += 4)
        {
            // Tap i of the filter to output channel o + l (lane l), as in PackBlock's First and Step.
            nint first = flipped ? ((nint)c * cout + o) * taps + taps - 1 : ((nint)o * cin + c) * taps;
            for (int i = 0; i < taps; i++)
            {
                ref T tap = ref Unsafe.Add(ref weights, first + step * i);
                Unsafe.Add(ref g, i) = Vector256.Create(double.CreateTruncating(tap), double.CreateTruncating(Unsafe.Add(ref tap, laneStride)),
                    double.CreateTruncating(Unsafe.Add(ref tap, 2 * laneStride)), double.CreateTruncating(Unsafe.Add(ref tap, 3 * laneStride)));
            }
            // T = G g, row a at a time: T[a][k] = Σ over i in increasing i, from zero (the columns k side by side: independent sums).
            bool five = r == 5;
            for (int a = 0; a < Alpha; a++)
            {
                Vector256<double> s0 = default, s1 = default, s2 = default, s3 = default, s4 = default;
                for (int i = 0; i < r; i++)
                {
                    Vector256<double> coefficient = Unsafe.Add(ref gm, a * r + i);
                    ref Vector256<double> row = ref Unsafe.Add(ref g, i * r);
                    s0 += coefficient * row;
                    s1 += coefficient * Unsafe.Add(ref row, 1);
                    s2 += coefficient * Unsafe.Add(ref row, 2);
                    if (five)
                    {
                        s3 += coefficient * Unsafe.Add(ref row, 3);
                        s4 += coefficient * Unsafe.Add(ref row, 4);
                    }
                }
                ref Vector256<double> tRow = ref Unsafe.Add(ref t, a * 5);
                tRow = s0;
                Unsafe.Add(ref tRow, 1) = s1;
                Unsafe.Add(ref tRow, 2) = s2;
                Unsafe.Add(ref tRow, 3) = s3;
                Unsafe.Add(ref tRow, 4) = s4;
            }
            // U = T Gᵀ, row a at a time: U[a][bb] = Σ over k in increasing k, from zero; rounded to T.
            ref T into = ref Unsafe.Add(ref to, ((nint)b * cin + c) * bs + (o - b * bs));
            for (int a = 0; a < Alpha; a++)
            {
                Vector256<double> u0 = default, u1 = default, u2 = default, u3 = default, u4 = default, u5 = default;
                for (int k = 0; k < r; k++)
                {
                    Vector256<double> tk = Unsafe.Add(ref t, a * 5 + k);
                    u0 += tk * Unsafe.Add(ref gm, k);
                    u1 += tk * Unsafe.Add(ref gm, r + k);
                    u2 += tk * Unsafe.Add(ref gm, 2 * r + k);
                    u3 += tk * Unsafe.Add(ref gm, 3 * r + k);
                    u4 += tk * Unsafe.Add(ref gm, 4 * r + k);
                    u5 += tk * Unsafe.Add(ref gm, 5 * r + k);
                }
                ref T frequencyRow = ref Unsafe.Add(ref into, a * Alpha * frequency);
                StoreFour(u0, ref frequencyRow);
                StoreFour(u1, ref Unsafe.Add(ref frequencyRow, frequency));
                StoreFour(u2, ref Unsafe.Add(ref frequencyRow, 2 * frequency));
                StoreFour(u3, ref Unsafe.Add(ref frequencyRow, 3 * frequency));
                StoreFour(u4, ref Unsafe.Add(ref frequencyRow, 4 * frequency));
                StoreFour(u5, ref Unsafe.Add(ref frequencyRow, 5 * frequency));
            }
        }
        return o;
    }

    /// <summary>The four lanes rounded to T (float: narrowed as one vector) at <paramref name="destination"/> .. + 3.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void StoreFour(Vector256<double> values, ref T destination)
    {
        if (typeof(T) == typeof(float))
        {
            Vector128.Narrow(values.GetLower(), values.GetUpper()).StoreUnsafe(ref Unsafe.As<T, float>(ref destination));
            return;
        }
        for (int l = 0; l < 4; l++) Unsafe.Add(ref destination, l) = T.CreateTruncating(values.GetElement(l));
    }

    /// <summary>G (6 x r, row-major) for r = 3 and r = 5, each coefficient broadcast to a Vector256&lt;double&gt; (<see cref="PackQuads"/>).</summary>
    private static readonly Vector256<double>[] FilterVectors3 = Array.ConvertAll(FilterTable(3), Vector256.Create),
        FilterVectors5 = Array.ConvertAll(FilterTable(5), Vector256.Create);

    /// <summary>G[j][k] for an r-tap kernel: a_jᵏ / Π_{l≠j}(a_j − a_l) on the points 0, 1, -1, 2, -2; row 5 (∞) picks the last tap.</summary>
    internal static double FilterMatrix(int j, int k, int r)
    {
        if (j == Alpha - 1) return k == r - 1 ? 1 : 0;
        ReadOnlySpan<int> points = [0, 1, -1, 2, -2];
        int a = points[j], power = 1, denominator = 1;
        for (int i = 0; i < k; i++) power *= a;
        for (int l = 0; l < points.Length; l++)
            if (l != j) denominator *= a - points[l];
        return (double)power / denominator;
    }

    /// <summary>G (6 x r, row-major) for r = 3 and r = 5: the values of <see cref="FilterMatrix"/>, computed once.</summary>
    private static readonly double[] FilterMatrix3 = FilterTable(3), FilterMatrix5 = FilterTable(5);

    private static double[] FilterTable(int r)
    {
        var table = new double[Alpha * r];
        for (int j = 0; j < Alpha; j++)
            for (int k = 0; k < r; k++) table[j * r + k] = FilterMatrix(j, k, r);
        return table;
    }

    /// <summary>U = G g Gᵀ (6x6, row-major) of one r x r kernel g, in double: T = G g (Σ over i in increasing i), then U = T Gᵀ (Σ over k).</summary>
    internal static void TransformFilter(ReadOnlySpan<double> g, int r, Span<double> u)
    {
        ReadOnlySpan<double> gm = r == 3 ? FilterMatrix3 : r == 5 ? FilterMatrix5 : throw new ArgumentOutOfRangeException(nameof(r), r, "Winograd filters are 3x3 or 5x5");
        Span<double> t = stackalloc double[Alpha * 5];
        for (int a = 0; a < Alpha; a++)
            for (int k = 0; k < r; k++)
            {
                double sum = 0;
                for (int i = 0; i < r; i++) sum += gm[a * r + i] * g[i * r + k];
                t[a * r + k] = sum;
            }
        for (int a = 0; a < Alpha; a++)
            for (int b = 0; b < Alpha; b++)
            {
                double sum = 0;
                for (int k = 0; k < r; k++) sum += t[a * r + k] * gm[b * r + k];
                u[a * Alpha + b] = sum;
            }
    }

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

    /// <summary>Output channels per block on this machine (two registers; the same as <see cref="DirectConvolution{T}.Block"/>).</summary>
    public static int DefaultBlock => 2 * Lanes;

    /// <summary>
    /// V[ξ][t][c] = (Bᵀ d B)[ξ] for the tiles of tile rows <paramref name="firstTileRow"/> .. + <paramref name="tileRows"/> (t counts
    /// them row by row) of one padded sample (channels last), into <paramref name="v"/> (36 x tiles x Cin).
    /// </summary>
    public void TransformInput(ReadOnlySpan<T> padded, int firstTileRow, int tileRows, Span<T> v)
    {
        int tiles = tileRows * TileColumns;
        if (firstTileRow < 0 || tileRows < 0 || firstTileRow + tileRows > TileRows || padded.Length < PaddedSize || v.Length < Frequencies * tiles * Channels)
            throw new ArgumentException("WinogradConvolution.TransformInput: tile rows or spans out of range");
        if (typeof(T) == typeof(float) || typeof(T) == typeof(double))
        {
            if (Vector512.IsHardwareAccelerated) { Input<Vector512<T>, Width512<T>>(padded, firstTileRow, tileRows, v); return; }
            if (Vector256.IsHardwareAccelerated) { Input<Vector256<T>, Width256<T>>(padded, firstTileRow, tileRows, v); return; }
            if (Vector128.IsHardwareAccelerated) { Input<Vector128<T>, Width128<T>>(padded, firstTileRow, tileRows, v); return; }
        }
        Input<T, WidthScalar<T>>(padded, firstTileRow, tileRows, v);
    }

    private void Input<TVector, TWidth>(ReadOnlySpan<T> padded, int firstTileRow, int tileRows, Span<T> v)
        where TVector : struct
        where TWidth : struct, IVectorWidth<TVector, T>
    {
        int cin = Channels, lanes = TWidth.Count, whole = cin / lanes * lanes;
        for (int c = 0; c < whole; c += lanes) InputChannels<TVector, TWidth>(padded, firstTileRow, tileRows, c, v);
        for (int c = whole; c < cin; c++) InputChannels<T, WidthScalar<T>>(padded, firstTileRow, tileRows, c, v);
    }

    /// <summary>The input transform of TWidth.Count channels from <paramref name="c0"/> on, for every tile of the rows.</summary>
    private void InputChannels<TVector, TWidth>(ReadOnlySpan<T> padded, int firstTileRow, int tileRows, int c0, Span<T> v)
        where TVector : struct
        where TWidth : struct, IVectorWidth<TVector, T>
    {
        int cin = Channels, pw = PaddedWidth, m = TileSize, columns = TileColumns, tiles = tileRows * columns;
        nint row = (nint)pw * cin, frequency = (nint)tiles * cin;
        ref T x = ref MemoryMarshal.GetReference(padded);
        ref T vr = ref MemoryMarshal.GetReference(v);
        // Bᵀ d for one tile: 6 rows x 6 columns of registers.
        var registers = default(Registers36<TVector>);
        Span<TVector> w = registers;
        for (int tu = 0; tu < tileRows; tu++)
            for (int tv = 0; tv < columns; tv++)
            {
                ref T corner = ref Unsafe.Add(ref x, ((nint)(firstTileRow + tu) * m * pw + (nint)tv * m) * cin + c0);
                for (int j = 0; j < Alpha; j++)
                {
                    ref T top = ref Unsafe.Add(ref corner, j * cin);
                    InputTransform<TVector, TWidth>(
                        TWidth.Load(ref top), TWidth.Load(ref Unsafe.Add(ref top, row)), TWidth.Load(ref Unsafe.Add(ref top, 2 * row)),
                        TWidth.Load(ref Unsafe.Add(ref top, 3 * row)), TWidth.Load(ref Unsafe.Add(ref top, 4 * row)), TWidth.Load(ref Unsafe.Add(ref top, 5 * row)),
                        out w[j], out w[6 + j], out w[12 + j], out w[18 + j], out w[24 + j], out w[30 + j]);
                }
                ref T tile = ref Unsafe.Add(ref vr, ((nint)tu * columns + tv) * cin + c0);
                for (int k = 0; k < Alpha; k++)
                {
                    InputTransform<TVector, TWidth>(w[6 * k], w[6 * k + 1], w[6 * k + 2], w[6 * k + 3], w[6 * k + 4], w[6 * k + 5],
                        out TVector v0, out TVector v1, out TVector v2, out TVector v3, out TVector v4, out TVector v5);
                    ref T out0 = ref Unsafe.Add(ref tile, 6 * k * frequency);
                    TWidth.Store(v0, ref out0);
                    TWidth.Store(v1, ref Unsafe.Add(ref out0, frequency));
                    TWidth.Store(v2, ref Unsafe.Add(ref out0, 2 * frequency));
                    TWidth.Store(v3, ref Unsafe.Add(ref out0, 3 * frequency));
                    TWidth.Store(v4, ref Unsafe.Add(ref out0, 4 * frequency));
                    TWidth.Store(v5, ref Unsafe.Add(ref out0, 5 * frequency));
                }
            }
    }

    /// <summary>Bᵀ applied to six values (the formulas at the top of this file).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void InputTransform<TVector, TWidth>(TVector d0, TVector d1, TVector d2, TVector d3, TVector d4, TVector d5,
        out TVector v0, out TVector v1, out TVector v2, out TVector v3, out TVector v4, out TVector v5)
        where TVector : struct
        where TWidth : struct, IVectorWidth<TVector, T>
    {
        TVector two = TWidth.Broadcast(T.CreateTruncating(2)), four = TWidth.Broadcast(T.CreateTruncating(4));
        TVector d42 = TWidth.Subtract(d4, d2), d31 = TWidth.Multiply(two, TWidth.Subtract(d3, d1));
        v0 = TWidth.Add(TWidth.Multiply(four, TWidth.Subtract(d0, d2)), d42);
        v1 = TWidth.Subtract(TWidth.Add(d3, d4), TWidth.Multiply(four, TWidth.Add(d1, d2)));
        v2 = TWidth.Add(TWidth.Subtract(d4, d3), TWidth.Multiply(four, TWidth.Subtract(d1, d2)));
        v3 = TWidth.Add(d42, d31);
        v4 = TWidth.Subtract(d42, d31);
        v5 = TWidth.Add(TWidth.Multiply(four, TWidth.Subtract(d1, d3)), TWidth.Subtract(d5, d3));
    }

    /// <summary>Aᵀ applied to six values for tiles of <paramref name="m"/> = 2 or 4 outputs (y2, y3 only for m = 4).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void OutputTransform<TVector, TWidth>(int m, TVector m0, TVector m1, TVector m2, TVector m3, TVector m4, TVector m5,
        out TVector y0, out TVector y1, out TVector y2, out TVector y3)
        where TVector : struct
        where TWidth : struct, IVectorWidth<TVector, T>
    {
        TVector sum12 = TWidth.Add(m1, m2), sum34 = TWidth.Add(m3, m4);
        TVector difference12 = TWidth.Subtract(m1, m2), difference34 = TWidth.Subtract(m3, m4);
        y0 = TWidth.Add(m0, TWidth.Add(sum12, sum34));
        if (m == 2)
        {
            y1 = TWidth.Add(TWidth.Add(difference12, TWidth.Multiply(TWidth.Broadcast(T.CreateTruncating(2)), difference34)), m5);
            y2 = y3 = TWidth.Zero;
            return;
        }
        y1 = TWidth.Add(difference12, TWidth.Multiply(TWidth.Broadcast(T.CreateTruncating(2)), difference34));
        y2 = TWidth.Add(sum12, TWidth.Multiply(TWidth.Broadcast(T.CreateTruncating(4)), sum34));
        y3 = TWidth.Add(TWidth.Add(difference12, TWidth.Multiply(TWidth.Broadcast(T.CreateTruncating(8)), difference34)), m5);
    }

    /// <summary>
    /// M[ξ][t][l] = Σ_c U[ξ][c][block·Block + l]·V[ξ][t][c] for the <paramref name="tiles"/> tiles in <paramref name="v"/>, into
    /// <paramref name="products"/> (36 x tiles x Block).
    /// </summary>
    public void Multiply(ReadOnlySpan<T> v, int tiles, int block, Span<T> products)
    {
        if (packed.Length == 0) throw new InvalidOperationException("Pack the weights before computing");
        if ((uint)block >= (uint)Blocks || tiles < 0 || v.Length < Frequencies * tiles * Channels || products.Length < Frequencies * tiles * Block)
            throw new ArgumentException("WinogradConvolution.Multiply: block, tiles or spans out of range");
        if (tiles == 0) return;
        if (typeof(T) == typeof(float) || typeof(T) == typeof(double))
        {
            if (Vector512.IsHardwareAccelerated) { Products<Vector512<T>, Width512<T>>(v, tiles, block, products); return; }
            if (Vector256.IsHardwareAccelerated) { Products<Vector256<T>, Width256<T>>(v, tiles, block, products); return; }
            if (Vector128.IsHardwareAccelerated) { Products<Vector128<T>, Width128<T>>(v, tiles, block, products); return; }
        }
        Products<T, WidthScalar<T>>(v, tiles, block, products);
    }

    private void Products<TVector, TWidth>(ReadOnlySpan<T> v, int tiles, int block, Span<T> products)
        where TVector : struct
        where TWidth : struct, IVectorWidth<TVector, T>
    {
        if (Block != 2 * TWidth.Count) throw new InvalidOperationException($"blocks of {Block} channels, but this width's products take {2 * TWidth.Count}");
        int cin = Channels, bs = Block;
        ref T vr = ref MemoryMarshal.GetReference(v);
        ref T pr = ref MemoryMarshal.GetReference(products);
        ref int off = ref identity[0];
        // Strips of nearly equal length, at most 6 tiles (49 tiles: 4 strips of 6, 5 of 5).
        int strips = (tiles + 5) / 6;
        for (int xi = 0; xi < Frequencies; xi++)
        {
            ref T u = ref packed[((nint)xi * Blocks + block) * cin * bs];
            ref T vf = ref Unsafe.Add(ref vr, (nint)xi * tiles * cin);
            ref T mf = ref Unsafe.Add(ref pr, (nint)xi * tiles * bs);
            for (int q = 0; q < strips; q++)
            {
                int t = q * tiles / strips, count = (q + 1) * tiles / strips - t;
                DirectConvolution<T>.Product<TVector, TWidth>(count, cin, ref Unsafe.Add(ref vf, (nint)t * cin), cin, ref off, ref u,
                    ref Unsafe.Add(ref mf, (nint)t * bs));
            }
        }
    }

    /// <summary>
    /// Y = Aᵀ M A for the tiles of tile rows <paramref name="firstTileRow"/> .. + <paramref name="tileRows"/> (as in <paramref name="products"/>),
    /// into <paramref name="tile"/>[(r·Wo + v)·Block + l] for output row firstTileRow·m + r (r &lt; <paramref name="rows"/>) and column v.
    /// </summary>
    public void TransformOutput(ReadOnlySpan<T> products, int firstTileRow, int tileRows, int rows, Span<T> tile)
    {
        int tiles = tileRows * TileColumns;
        if (firstTileRow < 0 || tileRows < 0 || firstTileRow + tileRows > TileRows || rows < 0 || rows > tileRows * TileSize
            || products.Length < Frequencies * tiles * Block || tile.Length < rows * OutWidth * Block)
            throw new ArgumentException("WinogradConvolution.TransformOutput: tile rows or spans out of range");
        if (typeof(T) == typeof(float) || typeof(T) == typeof(double))
        {
            if (Vector512.IsHardwareAccelerated) { Output<Vector512<T>, Width512<T>>(products, tileRows, rows, tile); return; }
            if (Vector256.IsHardwareAccelerated) { Output<Vector256<T>, Width256<T>>(products, tileRows, rows, tile); return; }
            if (Vector128.IsHardwareAccelerated) { Output<Vector128<T>, Width128<T>>(products, tileRows, rows, tile); return; }
        }
        Output<T, WidthScalar<T>>(products, tileRows, rows, tile);
    }

    private void Output<TVector, TWidth>(ReadOnlySpan<T> products, int tileRows, int rows, Span<T> tile)
        where TVector : struct
        where TWidth : struct, IVectorWidth<TVector, T>
    {
        int bs = Block, m = TileSize, columns = TileColumns, tiles = tileRows * columns, wo = OutWidth;
        nint lanes = TWidth.Count, frequency = (nint)tiles * bs;
        ref T pr = ref MemoryMarshal.GetReference(products);
        ref T y = ref MemoryMarshal.GetReference(tile);
        var registers = default(Registers36<TVector>);
        Span<TVector> z = registers;
        for (int tu = 0; tu < tileRows; tu++)
            for (int tv = 0; tv < columns; tv++)
                for (nint h = 0; h < bs; h += lanes)
                {
                    ref T first = ref Unsafe.Add(ref pr, ((nint)tu * columns + tv) * bs + h);
                    // Aᵀ M: for each column l, the m values z[i][l] from M[k][l], k = 0..5.
                    for (int l = 0; l < Alpha; l++)
                    {
                        ref T top = ref Unsafe.Add(ref first, l * frequency);
                        OutputTransform<TVector, TWidth>(m,
                            TWidth.Load(ref top), TWidth.Load(ref Unsafe.Add(ref top, 6 * frequency)), TWidth.Load(ref Unsafe.Add(ref top, 12 * frequency)),
                            TWidth.Load(ref Unsafe.Add(ref top, 18 * frequency)), TWidth.Load(ref Unsafe.Add(ref top, 24 * frequency)), TWidth.Load(ref Unsafe.Add(ref top, 30 * frequency)),
                            out z[l], out z[6 + l], out z[12 + l], out z[18 + l]);
                    }
                    for (int i = 0; i < m; i++)
                    {
                        int r = tu * m + i;
                        if (r >= rows) break;
                        OutputTransform<TVector, TWidth>(m, z[6 * i], z[6 * i + 1], z[6 * i + 2], z[6 * i + 3], z[6 * i + 4], z[6 * i + 5],
                            out TVector y0, out TVector y1, out TVector y2, out TVector y3);
                        int v = tv * m;
                        ref T at = ref Unsafe.Add(ref y, ((nint)r * wo + v) * bs + h);
                        TWidth.Store(y0, ref at);
                        if (v + 1 < wo) TWidth.Store(y1, ref Unsafe.Add(ref at, bs));
                        if (v + 2 < wo && m > 2) TWidth.Store(y2, ref Unsafe.Add(ref at, 2 * bs));
                        if (v + 3 < wo && m > 2) TWidth.Store(y3, ref Unsafe.Add(ref at, 3 * bs));
                    }
                }
    }

    /// <summary>Largest transformed input (or block of products) <see cref="ComputeMaps"/> holds at once, in values: it stays in L2.</summary>
    internal const int ChunkValues = 65536;

    /// <summary>Tile rows per chunk of <see cref="ComputeMaps"/> (its transformed input and products stay in L2).</summary>
    public int ChunkTileRows => Math.Max(1, ChunkValues / (Frequencies * TileColumns * Math.Max(Channels, Block)));

    /// <summary>
    /// This thread's scratch for <see cref="ComputeMaps"/>, in values: the padded sample channels last, the transformed input and products of one chunk, and one
    /// block's outputs of a chunk.
    /// </summary>
    public long ScratchValues
    {
        get
        {
            long tiles = (long)Math.Min(ChunkTileRows, TileRows) * TileColumns;
            return PaddedSize + Frequencies * tiles * (Channels + Block) + (long)TileSize * Math.Min(ChunkTileRows, TileRows) * OutWidth * Block;
        }
    }

    /// <summary>
    /// One sample's output maps y[o, u, v] = Σ (+ <paramref name="bias"/>[o] when given, added once to the finished sum) for the output rows of tile rows
    /// <paramref name="firstTileRow"/> .. + <paramref name="tileRows"/>, from the sample's input maps <paramref name="x"/> [Channels, Height, Width]
    /// into <paramref name="y"/> [OutChannels, OutHeight, OutWidth] (the layer's layouts). The sample is copied channels last with its zero border into
    /// this thread's scratch, then per chunk of tile rows: the input transform, and per block of output channels the products and the output
    /// transform. Each output is computed the same way whatever the tile rows asked for, so any split over threads gives the same bits.
    /// </summary>
    public void ComputeMaps(ReadOnlySpan<T> x, ReadOnlySpan<T> bias, Span<T> y, int firstTileRow, int tileRows)
    {
        int cin = Channels, h = Height, wd = Width, pw = PaddedWidth, cout = OutChannels, ho = OutHeight, wo = OutWidth;
        if (x.Length < cin * h * wd || y.Length < cout * ho * wo || (!bias.IsEmpty && bias.Length < cout)
            || firstTileRow < 0 || tileRows < 0 || firstTileRow + tileRows > TileRows)
            throw new ArgumentException("WinogradConvolution.ComputeMaps: tile rows or spans out of range");
        if (tileRows == 0) return;
        // The rows of the padded sample these tile rows read (each its convolution border or tile zeros, or input).
        int m = TileSize, rowFirst = firstTileRow * m, rowEnd = (firstTileRow + tileRows) * m + Kernel - 1;
        Span<T> padded = ThreadScratch<T>.Get(ScratchSlot.PaddedInput, PaddedSize);
        PadSample(x, padded, rowFirst, rowEnd);
        int columns = TileColumns, bs = Block, chunk = ChunkTileRows;
        for (int t = firstTileRow; t < firstTileRow + tileRows; t += chunk)
        {
            int rowsOfTiles = Math.Min(chunk, firstTileRow + tileRows - t), tiles = rowsOfTiles * columns;
            int r0 = t * m, rows = Math.Min((t + rowsOfTiles) * m, ho) - r0;
            Span<T> v = ThreadScratch<T>.Get(ScratchSlot.WinogradInput, Frequencies * tiles * cin);
            TransformInput(padded, t, rowsOfTiles, v);
            Span<T> products = ThreadScratch<T>.Get(ScratchSlot.WinogradProducts, Frequencies * tiles * bs);
            Span<T> tile = ThreadScratch<T>.Get(ScratchSlot.ConvolutionTile, rows * wo * bs);
            for (int block = 0; block < Blocks; block++)
            {
                Multiply(v, tiles, block, products);
                TransformOutput(products, t, rowsOfTiles, rows, tile);
                int lanes = Math.Min(bs, cout - block * bs);
                for (int l = 0; l < lanes; l++)
                {
                    int o = block * bs + l;
                    Span<T> plane = y.Slice((o * ho + r0) * wo, rows * wo);
                    ref T sums = ref Unsafe.Add(ref MemoryMarshal.GetReference(tile), l);
                    if (bias.IsEmpty)
                        for (int i = 0; i < plane.Length; i++) plane[i] = Unsafe.Add(ref sums, i * bs);
                    else
                    {
                        T b = bias[o];
                        for (int i = 0; i < plane.Length; i++) plane[i] = Unsafe.Add(ref sums, i * bs) + b;
                    }
                }
            }
        }
    }

    /// <summary>
    /// Rows <paramref name="rowFirst"/> .. <paramref name="rowEnd"/> of the padded sample channels last (xp[(row·PW + col)·Cin + c]) from the sample's
    /// maps <paramref name="x"/> [Channels, Height, Width]: the input where it is, zeros on the convolution's border and up to whole tiles.
    /// </summary>
    private void PadSample(ReadOnlySpan<T> x, Span<T> padded, int rowFirst, int rowEnd)
    {
        int cin = Channels, h = Height, wd = Width, pw = PaddedWidth;
        padded.Slice(rowFirst * pw * cin, (rowEnd - rowFirst) * pw * cin).Clear();
        int from = Math.Max(0, rowFirst - PadTop), to = Math.Min(h, rowEnd - PadTop);
        if (x.Length < cin * h * wd) throw new ArgumentException("WinogradConvolution: the sample is too short");
        for (int row = from; row < to; row++) RowChannelsLast(x, cin, h, wd, row, ref padded[((row + PadTop) * pw + PadLeft) * cin]);
    }

    /// <summary>
    /// target[v·C + c] = maps[(c·H + row)·W + v] for every c &lt; <paramref name="channels"/> and v &lt; <paramref name="width"/>: one row of maps
    /// [C, H, W] channels last. Float with AVX: 8 x 8 transposes, the last block of channels and of columns moved back to end at the edge (it
    /// writes some values twice, the same values); elsewhere, and below 8 channels or columns, one value at a time. A copy: the same bits either way.
    /// </summary>
    internal static void RowChannelsLast(ReadOnlySpan<T> maps, int channels, int height, int width, int row, ref T target)
    {
        nint plane = (nint)height * width;
        ref T source = ref Unsafe.Add(ref MemoryMarshal.GetReference(maps), (nint)row * width);
        if (typeof(T) == typeof(float) && Avx.IsSupported && channels >= 8 && width >= 8)
        {
            ref float from = ref Unsafe.As<T, float>(ref source);
            ref float to = ref Unsafe.As<T, float>(ref target);
            for (int c0 = 0; c0 < channels; c0 += 8)
            {
                int c = Math.Min(c0, channels - 8);
                for (int v0 = 0; v0 < width; v0 += 8)
                {
                    int v = Math.Min(v0, width - 8);
                    GemmPacking.Transpose8x8(ref Unsafe.Add(ref from, c * plane + v), plane, ref Unsafe.Add(ref to, (nint)v * channels + c), channels);
                }
            }
            return;
        }
        for (int c = 0; c < channels; c++)
        {
            ref T line = ref Unsafe.Add(ref source, c * plane);
            for (int v = 0; v < width; v++) Unsafe.Add(ref target, (nint)v * channels + c) = Unsafe.Add(ref line, v);
        }
    }

    // The weight gradient (docs/MATH.md, "Winograd convolution in training"). With Y = Aᵀ [Σ_c U_c ⊙ V_c] A per tile and U = G g Gᵀ:
    //   Δ̂ = A δ Aᵀ                                 (δ: the tile's m x m output gradients, zero past the output)
    //   ∂U[ξ][o][c] = Σ_tiles Δ̂[ξ][tile][o]·V[ξ][tile][c]
    //   ∂g[o, c] = Gᵀ ∂U[o][c] G
    // A δ Aᵀ goes rows first (δ Aᵀ, then A ·), each value by the formulas of GradientTransform (products by 2 and 4 only, exact).
    // The sums over tiles are one product Δ̂ᵀ V per frequency in Gemm's canonical order (GradientProducts, so GemmReference
    // gives the same bits, on every width), over chunks of GradientChunkTileRows tile rows, samples in order. Gᵀ ∂U G is computed in double (Σ over a, then over b, in
    // increasing order) and rounded once. Channels are the lanes of the transforms, as in the forward pass.

    /// <summary>Tile rows per chunk of <see cref="WeightGradient"/>: its transformed input and gradients each hold at most <see cref="ChunkValues"/> values, as the forward pass's.</summary>
    public int GradientChunkTileRows => Math.Max(1, ChunkValues / (Frequencies * TileColumns * Math.Max(Channels, OutChannels)));

    /// <summary>Values of one sample's output gradient channels last for <paramref name="channels"/> output channels, zero up to whole tiles (δ[(row·TileColumns·m + col)·channels + o]).</summary>
    public int GradientTileSize(int channels) => TileRows * TileSize * TileColumns * TileSize * channels;

    /// <summary>This thread's scratch for <see cref="WeightGradient"/>, in values (on top of the padded sample).</summary>
    public long GradientScratchValues
    {
        get
        {
            long tiles = (long)Math.Min(GradientChunkTileRows, TileRows) * TileColumns;
            return GradientTileSize(OutChannels) + Frequencies * tiles * (Channels + OutChannels) + (long)Frequencies * Channels * OutChannels;
        }
    }

    /// <summary>
    /// ∂w[o, c, i, j] of the <paramref name="samples"/> samples <paramref name="x"/> [samples, Channels, Height, Width] with output gradients
    /// <paramref name="dy"/> [samples, OutChannels, OutHeight, OutWidth], summed over them (the formulas above), for the output channels
    /// <paramref name="firstOut"/> .. + <paramref name="outCount"/>: into their rows of <paramref name="dw"/> [OutChannels, Channels, r, r], or added
    /// to them when <paramref name="accumulate"/>. Single-threaded. Every value is computed the same way whatever range of output channels a call
    /// takes (each transforms all of x), so any split of the output channels over calls gives the same bits, and so does any split of a batch
    /// into calls that a caller combines in a fixed order.
    /// </summary>
    public void WeightGradient(ReadOnlySpan<T> x, ReadOnlySpan<T> dy, int samples, Span<T> dw, bool accumulate, int firstOut, int outCount)
    {
        int cin = Channels, cout = OutChannels, inSize = cin * Height * Width, plane = OutHeight * OutWidth, outSize = cout * plane, columns = TileColumns;
        if (Flipped || samples < 0 || firstOut < 0 || outCount < 0 || firstOut + outCount > cout
            || x.Length < (long)samples * inSize || dy.Length < (long)samples * outSize || dw.Length < cout * cin * Kernel * Kernel)
            throw new ArgumentException("WinogradConvolution.WeightGradient: a flipped convolution, output channels out of range or spans too short");
        if (outCount == 0) return;
        Span<T> padded = ThreadScratch<T>.Get(ScratchSlot.PaddedInput, PaddedSize);
        Span<T> gradient = ThreadScratch<T>.Get(ScratchSlot.GradientTiles, GradientTileSize(outCount));
        Span<T> du = ThreadScratch<T>.Get(ScratchSlot.WinogradFilterGradient, Frequencies * outCount * cin);
        du.Clear();
        int chunk = GradientChunkTileRows;
        for (int s = 0; s < samples; s++)
        {
            PadSample(x.Slice(s * inSize, inSize), padded, 0, PaddedHeight);
            TileGradient(dy.Slice(s * outSize + firstOut * plane, outCount * plane), outCount, gradient);
            for (int t = 0; t < TileRows; t += chunk)
            {
                int rows = Math.Min(chunk, TileRows - t), tiles = rows * columns;
                Span<T> v = ThreadScratch<T>.Get(ScratchSlot.WinogradInput, Frequencies * tiles * cin);
                TransformInput(padded, t, rows, v);
                Span<T> dm = ThreadScratch<T>.Get(ScratchSlot.WinogradGradient, Frequencies * tiles * outCount);
                TransformGradient(gradient, outCount, t, rows, dm);
                MultiplyGradient(dm, v, tiles, outCount, du);
            }
        }
        TransformFilterGradient(du, firstOut, outCount, dw, accumulate);
    }

    /// <summary>The output gradient <paramref name="dy"/> [channels, OutHeight, OutWidth] of one sample channels last, zero up to whole tiles.</summary>
    private void TileGradient(ReadOnlySpan<T> dy, int channels, Span<T> gradient)
    {
        int ho = OutHeight, wo = OutWidth, gw = TileColumns * TileSize;
        if (dy.Length < channels * ho * wo) throw new ArgumentException("WinogradConvolution: the output gradient is too short");
        gradient[..GradientTileSize(channels)].Clear();
        for (int row = 0; row < ho; row++) RowChannelsLast(dy, channels, ho, wo, row, ref gradient[row * gw * channels]);
    }

    /// <summary>
    /// Δ̂[ξ][t][o] = (A δ Aᵀ)[ξ] for the tiles of tile rows <paramref name="firstTileRow"/> .. + <paramref name="tileRows"/> (t counts them row by
    /// row) of one sample's output gradient of <paramref name="channels"/> channels, channels last (<see cref="GradientTileSize"/> values), into
    /// <paramref name="dm"/> (36 x tiles x channels).
    /// </summary>
    public void TransformGradient(ReadOnlySpan<T> gradient, int channels, int firstTileRow, int tileRows, Span<T> dm)
    {
        int tiles = tileRows * TileColumns;
        if (channels < 0 || firstTileRow < 0 || tileRows < 0 || firstTileRow + tileRows > TileRows || gradient.Length < GradientTileSize(channels)
            || dm.Length < Frequencies * tiles * channels)
            throw new ArgumentException("WinogradConvolution.TransformGradient: tile rows or spans out of range");
        if (typeof(T) == typeof(float) || typeof(T) == typeof(double))
        {
            if (Vector512.IsHardwareAccelerated) { Gradient<Vector512<T>, Width512<T>>(gradient, channels, firstTileRow, tileRows, dm); return; }
            if (Vector256.IsHardwareAccelerated) { Gradient<Vector256<T>, Width256<T>>(gradient, channels, firstTileRow, tileRows, dm); return; }
            if (Vector128.IsHardwareAccelerated) { Gradient<Vector128<T>, Width128<T>>(gradient, channels, firstTileRow, tileRows, dm); return; }
        }
        Gradient<T, WidthScalar<T>>(gradient, channels, firstTileRow, tileRows, dm);
    }

    private void Gradient<TVector, TWidth>(ReadOnlySpan<T> gradient, int channels, int firstTileRow, int tileRows, Span<T> dm)
        where TVector : struct
        where TWidth : struct, IVectorWidth<TVector, T>
    {
        int lanes = TWidth.Count, whole = channels / lanes * lanes;
        for (int o = 0; o < whole; o += lanes) GradientChannels<TVector, TWidth>(gradient, channels, firstTileRow, tileRows, o, dm);
        for (int o = whole; o < channels; o++) GradientChannels<T, WidthScalar<T>>(gradient, channels, firstTileRow, tileRows, o, dm);
    }

    /// <summary>The gradient transform of TWidth.Count output channels from <paramref name="o0"/> on, for every tile of the rows.</summary>
    private void GradientChannels<TVector, TWidth>(ReadOnlySpan<T> gradient, int channels, int firstTileRow, int tileRows, int o0, Span<T> dm)
        where TVector : struct
        where TWidth : struct, IVectorWidth<TVector, T>
    {
        int cout = channels, m = TileSize, columns = TileColumns, tiles = tileRows * columns;
        nint row = (nint)columns * m * cout, frequency = (nint)tiles * cout;
        ref T g = ref MemoryMarshal.GetReference(gradient);
        ref T dr = ref MemoryMarshal.GetReference(dm);
        // δ Aᵀ for one tile: m rows x 6 columns of registers.
        var registers = default(Registers36<TVector>);
        Span<TVector> q = registers;
        TVector zero = TWidth.Zero;
        for (int tu = 0; tu < tileRows; tu++)
            for (int tv = 0; tv < columns; tv++)
            {
                ref T corner = ref Unsafe.Add(ref g, (nint)(firstTileRow + tu) * m * row + (nint)tv * m * cout + o0);
                for (int i = 0; i < m; i++)
                {
                    ref T left = ref Unsafe.Add(ref corner, i * row);
                    GradientTransform<TVector, TWidth>(m, TWidth.Load(ref left), TWidth.Load(ref Unsafe.Add(ref left, cout)),
                        m > 2 ? TWidth.Load(ref Unsafe.Add(ref left, 2 * cout)) : zero, m > 2 ? TWidth.Load(ref Unsafe.Add(ref left, 3 * cout)) : zero,
                        out q[6 * i], out q[6 * i + 1], out q[6 * i + 2], out q[6 * i + 3], out q[6 * i + 4], out q[6 * i + 5]);
                }
                ref T tile = ref Unsafe.Add(ref dr, ((nint)tu * columns + tv) * cout + o0);
                for (int l = 0; l < Alpha; l++)
                {
                    GradientTransform<TVector, TWidth>(m, q[l], q[6 + l], m > 2 ? q[12 + l] : zero, m > 2 ? q[18 + l] : zero,
                        out TVector p0, out TVector p1, out TVector p2, out TVector p3, out TVector p4, out TVector p5);
                    ref T out0 = ref Unsafe.Add(ref tile, l * frequency);
                    TWidth.Store(p0, ref out0);
                    TWidth.Store(p1, ref Unsafe.Add(ref out0, 6 * frequency));
                    TWidth.Store(p2, ref Unsafe.Add(ref out0, 12 * frequency));
                    TWidth.Store(p3, ref Unsafe.Add(ref out0, 18 * frequency));
                    TWidth.Store(p4, ref Unsafe.Add(ref out0, 24 * frequency));
                    TWidth.Store(p5, ref Unsafe.Add(ref out0, 30 * frequency));
                }
            }
    }

    /// <summary>
    /// A applied to <paramref name="m"/> = 2 or 4 values (d2, d3 only for m = 4), the transpose of <see cref="OutputTransform"/>:
    /// m = 2: (d0, d0 + d1, d0 − d1, d0 + 2·d1, d0 − 2·d1, d1); m = 4, with e = d0 + d2, o = d1 + d3, e4 = d0 + 4·d2, o4 = 2·(d1 + 4·d3):
    /// (d0, e + o, e − o, e4 + o4, e4 − o4, d3).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void GradientTransform<TVector, TWidth>(int m, TVector d0, TVector d1, TVector d2, TVector d3,
        out TVector p0, out TVector p1, out TVector p2, out TVector p3, out TVector p4, out TVector p5)
        where TVector : struct
        where TWidth : struct, IVectorWidth<TVector, T>
    {
        TVector two = TWidth.Broadcast(T.CreateTruncating(2));
        p0 = d0;
        if (m == 2)
        {
            TVector twice = TWidth.Multiply(two, d1);
            p1 = TWidth.Add(d0, d1);
            p2 = TWidth.Subtract(d0, d1);
            p3 = TWidth.Add(d0, twice);
            p4 = TWidth.Subtract(d0, twice);
            p5 = d1;
            return;
        }
        TVector four = TWidth.Broadcast(T.CreateTruncating(4));
        TVector even = TWidth.Add(d0, d2), odd = TWidth.Add(d1, d3);
        TVector even4 = TWidth.Add(d0, TWidth.Multiply(four, d2)), odd4 = TWidth.Multiply(two, TWidth.Add(d1, TWidth.Multiply(four, d3)));
        p1 = TWidth.Add(even, odd);
        p2 = TWidth.Subtract(even, odd);
        p3 = TWidth.Add(even4, odd4);
        p4 = TWidth.Subtract(even4, odd4);
        p5 = d3;
    }

    /// <summary>
    /// ∂U[ξ][o][c] += Σ_t Δ̂[ξ][t][o]·V[ξ][t][c] over the <paramref name="tiles"/> tiles for <paramref name="channels"/> output channels, per frequency a product Δ̂ᵀ V added to ∂U in Gemm's
    /// canonical order (GemmReference with accumulate: depth slices of Gemm.DepthSlice(tiles), each summed from zero by one fused multiply-add
    /// per tile in increasing t, then added to ∂U), read straight from the transforms' layouts: blocks of 4 output channels by two vectors
    /// (or one) of input channels, the rest one value at a time.
    /// </summary>
    public void MultiplyGradient(ReadOnlySpan<T> dm, ReadOnlySpan<T> v, int tiles, int channels, Span<T> du)
    {
        int cin = Channels, cout = channels;
        if (tiles < 0 || channels < 0 || dm.Length < Frequencies * tiles * cout || v.Length < Frequencies * tiles * cin || du.Length < Frequencies * cout * cin)
            throw new ArgumentException("WinogradConvolution.MultiplyGradient: tiles or spans out of range");
        if (tiles == 0) return;
        if (typeof(T) == typeof(float) || typeof(T) == typeof(double))
        {
            if (Vector512.IsHardwareAccelerated) { GradientProducts<Vector512<T>, Width512<T>>(dm, v, tiles, cout, du); return; }
            if (Vector256.IsHardwareAccelerated) { GradientProducts<Vector256<T>, Width256<T>>(dm, v, tiles, cout, du); return; }
            if (Vector128.IsHardwareAccelerated) { GradientProducts<Vector128<T>, Width128<T>>(dm, v, tiles, cout, du); return; }
        }
        GradientProducts<T, WidthScalar<T>>(dm, v, tiles, cout, du);
    }

    private void GradientProducts<TVector, TWidth>(ReadOnlySpan<T> dm, ReadOnlySpan<T> v, int tiles, int cout, Span<T> du)
        where TVector : struct
        where TWidth : struct, IVectorWidth<TVector, T>
    {
        int cin = Channels, lanes = TWidth.Count, kc = Gemm.DepthSlice(tiles);
        ref T ar = ref MemoryMarshal.GetReference(dm);
        ref T br = ref MemoryMarshal.GetReference(v);
        ref T cr = ref MemoryMarshal.GetReference(du);
        for (int xi = 0; xi < Frequencies; xi++)
        {
            ref T c = ref Unsafe.Add(ref cr, (nint)xi * cout * cin);
            for (int p0 = 0; p0 < tiles; p0 += kc)
            {
                int depth = Math.Min(kc, tiles - p0);
                ref T a = ref Unsafe.Add(ref ar, ((nint)xi * tiles + p0) * cout);
                ref T b = ref Unsafe.Add(ref br, ((nint)xi * tiles + p0) * cin);
                int o = 0;
                for (; o + 4 <= cout; o += 4)
                {
                    int j = 0;
                    for (; j + 2 * lanes <= cin; j += 2 * lanes)
                        Rows4<TVector, TWidth>(depth, 2, ref Unsafe.Add(ref a, o), cout, ref Unsafe.Add(ref b, j), cin, ref Unsafe.Add(ref c, (nint)o * cin + j), cin);
                    for (; j + lanes <= cin; j += lanes)
                        Rows4<TVector, TWidth>(depth, 1, ref Unsafe.Add(ref a, o), cout, ref Unsafe.Add(ref b, j), cin, ref Unsafe.Add(ref c, (nint)o * cin + j), cin);
                    for (; j < cin; j++)
                        Rows4<T, WidthScalar<T>>(depth, 1, ref Unsafe.Add(ref a, o), cout, ref Unsafe.Add(ref b, j), cin, ref Unsafe.Add(ref c, (nint)o * cin + j), cin);
                }
                for (; o < cout; o++)
                    for (int j = 0; j < cin; j++)
                    {
                        T sum = T.Zero;
                        for (int p = 0; p < depth; p++)
                            sum = T.FusedMultiplyAdd(Unsafe.Add(ref a, (nint)p * cout + o), Unsafe.Add(ref b, (nint)p * cin + j), sum);
                        ref T target = ref Unsafe.Add(ref c, (nint)o * cin + j);
                        target += sum;
                    }
            }
        }
    }

    /// <summary>
    /// C[i][0 .. vectors·lanes) += Σ_p A[p][i]·B[p][..] for the 4 rows i (A and B row-major with strides <paramref name="lda"/> and <paramref name="ldb"/>):
    /// each sum from zero, one fused multiply-add per p in increasing p, then added to C.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Rows4<TVector, TWidth>(int depth, int vectors, ref T a, nint lda, ref T b, nint ldb, ref T c, nint ldc)
        where TVector : struct
        where TWidth : struct, IVectorWidth<TVector, T>
    {
        nint lanes = TWidth.Count;
        TVector s00 = TWidth.Zero, s10 = TWidth.Zero, s20 = TWidth.Zero, s30 = TWidth.Zero;
        TVector s01 = TWidth.Zero, s11 = TWidth.Zero, s21 = TWidth.Zero, s31 = TWidth.Zero;
        if (vectors == 2)
        {
            for (int p = 0; p < depth; p++)
            {
                ref T ap = ref Unsafe.Add(ref a, p * lda);
                ref T bp = ref Unsafe.Add(ref b, p * ldb);
                TVector b0 = TWidth.Load(ref bp), b1 = TWidth.Load(ref Unsafe.Add(ref bp, lanes));
                TVector x = TWidth.Broadcast(ap);
                s00 = TWidth.MultiplyAdd(x, b0, s00);
                s01 = TWidth.MultiplyAdd(x, b1, s01);
                x = TWidth.Broadcast(Unsafe.Add(ref ap, 1));
                s10 = TWidth.MultiplyAdd(x, b0, s10);
                s11 = TWidth.MultiplyAdd(x, b1, s11);
                x = TWidth.Broadcast(Unsafe.Add(ref ap, 2));
                s20 = TWidth.MultiplyAdd(x, b0, s20);
                s21 = TWidth.MultiplyAdd(x, b1, s21);
                x = TWidth.Broadcast(Unsafe.Add(ref ap, 3));
                s30 = TWidth.MultiplyAdd(x, b0, s30);
                s31 = TWidth.MultiplyAdd(x, b1, s31);
            }
        }
        else
        {
            for (int p = 0; p < depth; p++)
            {
                ref T ap = ref Unsafe.Add(ref a, p * lda);
                TVector b0 = TWidth.Load(ref Unsafe.Add(ref b, p * ldb));
                s00 = TWidth.MultiplyAdd(TWidth.Broadcast(ap), b0, s00);
                s10 = TWidth.MultiplyAdd(TWidth.Broadcast(Unsafe.Add(ref ap, 1)), b0, s10);
                s20 = TWidth.MultiplyAdd(TWidth.Broadcast(Unsafe.Add(ref ap, 2)), b0, s20);
                s30 = TWidth.MultiplyAdd(TWidth.Broadcast(Unsafe.Add(ref ap, 3)), b0, s30);
            }
        }
        AddTo<TVector, TWidth>(ref c, s00);
        AddTo<TVector, TWidth>(ref Unsafe.Add(ref c, ldc), s10);
        AddTo<TVector, TWidth>(ref Unsafe.Add(ref c, 2 * ldc), s20);
        AddTo<TVector, TWidth>(ref Unsafe.Add(ref c, 3 * ldc), s30);
        if (vectors == 2)
        {
            AddTo<TVector, TWidth>(ref Unsafe.Add(ref c, lanes), s01);
            AddTo<TVector, TWidth>(ref Unsafe.Add(ref c, ldc + lanes), s11);
            AddTo<TVector, TWidth>(ref Unsafe.Add(ref c, 2 * ldc + lanes), s21);
            AddTo<TVector, TWidth>(ref Unsafe.Add(ref c, 3 * ldc + lanes), s31);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void AddTo<TVector, TWidth>(ref T target, TVector sum)
        where TVector : struct
        where TWidth : struct, IVectorWidth<TVector, T> => TWidth.Store(TWidth.Add(TWidth.Load(ref target), sum), ref target);

    /// <summary>
    /// ∂w[o, c] = Gᵀ ∂U[o][c] G for the filters of output channels <paramref name="firstOut"/> .. + <paramref name="outCount"/>
    /// (<see cref="FilterGradient"/>, in double, rounded once to T) from <paramref name="du"/> (36 x outCount x Channels) into their rows of
    /// <paramref name="dw"/> [OutChannels, Channels, r, r], or added to them when <paramref name="accumulate"/>.
    /// </summary>
    public void TransformFilterGradient(ReadOnlySpan<T> du, int firstOut, int outCount, Span<T> dw, bool accumulate)
    {
        int cin = Channels, r = Kernel, taps = r * r;
        if (firstOut < 0 || outCount < 0 || firstOut + outCount > OutChannels || du.Length < Frequencies * outCount * cin || dw.Length < OutChannels * cin * taps)
            throw new ArgumentException("WinogradConvolution.TransformFilterGradient: output channels out of range or spans too short");
        Span<double> u = stackalloc double[Frequencies];
        Span<double> g = stackalloc double[25];
        for (int k = 0; k < outCount; k++)
        {
            int o = firstOut + k, c = 0;
            if (Vector256.IsHardwareAccelerated)
                for (; c + 4 <= cin; c += 4) FilterGradientQuad(du, outCount, k, c, dw, o, accumulate);
            for (; c < cin; c++)
            {
                for (int xi = 0; xi < Frequencies; xi++) u[xi] = double.CreateTruncating(du[(xi * outCount + k) * cin + c]);
                FilterGradient(u, r, g);
                Span<T> target = dw.Slice((o * cin + c) * taps, taps);
                for (int i = 0; i < taps; i++) target[i] = accumulate ? target[i] + T.CreateTruncating(g[i]) : T.CreateTruncating(g[i]);
            }
        }
    }

    /// <summary>
    /// <see cref="FilterGradient"/> of the four filters to output channel <paramref name="o"/> (row <paramref name="k"/> of <paramref name="du"/>'s
    /// <paramref name="rows"/>) from input channels <paramref name="c"/> .. + 3, side by side in the lanes of Vector256&lt;double&gt; (the same operations
    /// in the same order per lane, so the same bits), rounded to T into <paramref name="dw"/> or added to it.
    /// </summary>
    private void FilterGradientQuad(ReadOnlySpan<T> du, int rows, int k, int c, Span<T> dw, int o, bool accumulate)
    {
        int r = Kernel, taps = r * r, cin = Channels;
        ref T source = ref MemoryMarshal.GetReference(du);
        ref Vector256<double> gm = ref MemoryMarshal.GetArrayDataReference(r == 3 ? FilterVectors3 : FilterVectors5);
        var frequencyRegisters = default(Registers36<Vector256<double>>);
        var halfRegisters = default(Registers36<Vector256<double>>); // S, r rows of 6
        ref Vector256<double> u = ref Unsafe.As<Registers36<Vector256<double>>, Vector256<double>>(ref frequencyRegisters);
        ref Vector256<double> s = ref Unsafe.As<Registers36<Vector256<double>>, Vector256<double>>(ref halfRegisters);
        for (int xi = 0; xi < Frequencies; xi++)
        {
            ref T at = ref Unsafe.Add(ref source, ((nint)xi * rows + k) * cin + c);
            Unsafe.Add(ref u, xi) = Vector256.Create(double.CreateTruncating(at), double.CreateTruncating(Unsafe.Add(ref at, 1)),
                double.CreateTruncating(Unsafe.Add(ref at, 2)), double.CreateTruncating(Unsafe.Add(ref at, 3)));
        }
        // S = Gᵀ ∂U, row i at a time: S[i][b] = Σ over a in increasing a, from zero.
        for (int i = 0; i < r; i++)
        {
            Vector256<double> s0 = default, s1 = default, s2 = default, s3 = default, s4 = default, s5 = default;
            for (int a = 0; a < Alpha; a++)
            {
                Vector256<double> coefficient = Unsafe.Add(ref gm, a * r + i);
                ref Vector256<double> row = ref Unsafe.Add(ref u, a * Alpha);
                s0 += coefficient * row;
                s1 += coefficient * Unsafe.Add(ref row, 1);
                s2 += coefficient * Unsafe.Add(ref row, 2);
                s3 += coefficient * Unsafe.Add(ref row, 3);
                s4 += coefficient * Unsafe.Add(ref row, 4);
                s5 += coefficient * Unsafe.Add(ref row, 5);
            }
            ref Vector256<double> sRow = ref Unsafe.Add(ref s, i * Alpha);
            sRow = s0;
            Unsafe.Add(ref sRow, 1) = s1;
            Unsafe.Add(ref sRow, 2) = s2;
            Unsafe.Add(ref sRow, 3) = s3;
            Unsafe.Add(ref sRow, 4) = s4;
            Unsafe.Add(ref sRow, 5) = s5;
        }
        // ∂g = S G: ∂g[i][j] = Σ over b in increasing b, from zero; each lane rounded to T into its own filter.
        ref T target = ref Unsafe.Add(ref MemoryMarshal.GetReference(dw), ((nint)o * cin + c) * taps);
        for (int i = 0; i < r; i++)
            for (int j = 0; j < r; j++)
            {
                Vector256<double> sum = default;
                for (int b = 0; b < Alpha; b++) sum += Unsafe.Add(ref s, i * Alpha + b) * Unsafe.Add(ref gm, b * r + j);
                for (int l = 0; l < 4; l++)
                {
                    ref T tap = ref Unsafe.Add(ref target, l * taps + i * r + j);
                    T value = T.CreateTruncating(sum.GetElement(l));
                    tap = accumulate ? tap + value : value;
                }
            }
    }

    /// <summary>∂g = Gᵀ ∂U G (r x r, row-major) of one 6x6 ∂U, in double: S = Gᵀ ∂U (Σ over a in increasing a), then ∂g = S G (Σ over b).</summary>
    internal static void FilterGradient(ReadOnlySpan<double> u, int r, Span<double> g)
    {
        ReadOnlySpan<double> gm = r == 3 ? FilterMatrix3 : r == 5 ? FilterMatrix5 : throw new ArgumentOutOfRangeException(nameof(r), r, "Winograd filters are 3x3 or 5x5");
        Span<double> s = stackalloc double[5 * Alpha];
        for (int i = 0; i < r; i++)
            for (int b = 0; b < Alpha; b++)
            {
                double sum = 0;
                for (int a = 0; a < Alpha; a++) sum += gm[a * r + i] * u[a * Alpha + b];
                s[i * Alpha + b] = sum;
            }
        for (int i = 0; i < r; i++)
            for (int j = 0; j < r; j++)
            {
                double sum = 0;
                for (int b = 0; b < Alpha; b++) sum += s[i * Alpha + b] * gm[b * r + j];
                g[i * r + j] = sum;
            }
    }

    /// <summary>36 registers on the stack (a tile's transform between its two passes).</summary>
    [InlineArray(Frequencies)]
    private struct Registers36<TVector>
        where TVector : struct
    {
        private TVector element;
    }
}
