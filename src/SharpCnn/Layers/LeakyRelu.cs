using System.Runtime.InteropServices;
using System.Text.RegularExpressions;
using SharpCnn.Formats.Onnx;
using SharpCnn.Formats.Onnx.Proto;
using SharpCnn.Kernels;
using SharpCnn.Tensors;

namespace SharpCnn.Layers;

/// <summary>
/// Leaky rectified linear unit with slope α for negative inputs, element by element; any shape in,
/// the same shape out (Maas, Hannun and Ng 2013; ONNX and PyTorch's LeakyRelu).
///
/// Forward:  y = x        for x &gt; 0
///           y = α·x      for x ≤ 0
/// Backward: ∂L/∂x = ∂L/∂y      for x &gt; 0
///           ∂L/∂x = α·∂L/∂y    for x ≤ 0
/// At x = 0 the function has a kink; the derivative used there is α (as in PyTorch). With α = 0
/// it is <see cref="Relu{T}"/>; with α = 1 the identity. For 0 ≤ α ≤ 1 the output is never larger
/// in magnitude than the input.
///
/// Both passes are one multiply and one select per element: the vector loop computes exactly what
/// the scalar loop (<see cref="ForwardReference"/>, <see cref="BackwardReference"/>) computes for each
/// element, so every vector width gives the same bits, and any split over threads does too.
/// </summary>
public sealed class LeakyRelu<T> : Layer<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>Creates a leaky ReLU with slope <paramref name="alpha"/> for negative inputs (0 ≤ α ≤ 1).</summary>
    public LeakyRelu(double alpha)
    {
        if (!(alpha >= 0 && alpha <= 1)) throw new ArgumentOutOfRangeException(nameof(alpha), alpha, "the leaky ReLU's slope α must be in [0, 1]");
        Alpha = alpha;
    }

    /// <summary>α, the slope for negative inputs.</summary>
    public double Alpha { get; }

    /// <inheritdoc />
    public override LayerSpec Spec => new LeakyReluSpec(Alpha);

    /// <inheritdoc />
    protected override Shape Configure(Shape input) => input;

    /// <inheritdoc />
    public override long ForwardFlops => InputShape.Size;

    /// <inheritdoc />
    public override void Forward(ReadOnlySpan<T> x, Span<T> y, int n)
    {
        CheckForward(x, y, n);
        var work = new Work { X = x[..(n * InputShape.Size)], Y = y, Alpha = T.CreateChecked(Alpha), Parts = Parallelism.ElementParts(n * InputShape.Size) };
        Parallelism.For(work.Parts, ref work);
    }

    /// <inheritdoc />
    public override void Backward(ReadOnlySpan<T> x, ReadOnlySpan<T> y, ReadOnlySpan<T> dy, Span<T> dx, int n)
    {
        CheckBackward(x, y, dy, dx, n);
        if (dx.IsEmpty) return;
        var work = new Work { X = x[..(n * InputShape.Size)], Dy = dy, Y = dx, Alpha = T.CreateChecked(Alpha), Backward = true, Parts = Parallelism.ElementParts(n * InputShape.Size) };
        Parallelism.For(work.Parts, ref work);
    }

    /// <summary>y = x &gt; 0 ? x : α·x, vectorised (the result equals <see cref="ForwardReference"/> bit for bit).</summary>
    internal static void ForwardKernel(ReadOnlySpan<T> x, Span<T> y, T alpha) => Kernel(x, x, y, alpha);

    /// <summary>dx = x &gt; 0 ? dy : α·dy, vectorised (the result equals <see cref="BackwardReference"/> bit for bit).</summary>
    internal static void BackwardKernel(ReadOnlySpan<T> x, ReadOnlySpan<T> dy, Span<T> dx, T alpha) => Kernel(x, dy, dx, alpha);

    /// <summary>The plain loop <see cref="ForwardKernel"/> is held to.</summary>
    internal static void ForwardReference(ReadOnlySpan<T> x, Span<T> y, T alpha)
    {
        for (int i = 0; i < x.Length; i++) y[i] = x[i] > T.Zero ? x[i] : alpha * x[i];
    }

    /// <summary>The plain loop <see cref="BackwardKernel"/> is held to.</summary>
    internal static void BackwardReference(ReadOnlySpan<T> x, ReadOnlySpan<T> dy, Span<T> dx, T alpha)
    {
        for (int i = 0; i < x.Length; i++) dx[i] = x[i] > T.Zero ? dy[i] : alpha * dy[i];
    }

    /// <summary>out = x &gt; 0 ? v : α·v element by element: the forward pass with v = x, the backward with v = dy.</summary>
    private static void Kernel(ReadOnlySpan<T> x, ReadOnlySpan<T> v, Span<T> output, T alpha)
    {
        int length = x.Length, i = 0;
        if (v.Length < length || output.Length < length) throw new ArgumentException("leaky ReLU: the spans must be as long as x");
        if (Vector.IsHardwareAccelerated && (typeof(T) == typeof(float) || typeof(T) == typeof(double)))
        {
            int count = Vector<T>.Count, end = length - length % count;
            ref T xr = ref MemoryMarshal.GetReference(x), vr = ref MemoryMarshal.GetReference(v), outr = ref MemoryMarshal.GetReference(output);
            var a = new Vector<T>(alpha);
            for (; i < end; i += count)
            {
                Vector<T> vi = Vector.LoadUnsafe(ref vr, (nuint)i);
                Vector.ConditionalSelect(Vector.GreaterThan(Vector.LoadUnsafe(ref xr, (nuint)i), Vector<T>.Zero), vi, a * vi).StoreUnsafe(ref outr, (nuint)i);
            }
        }
        for (; i < length; i++) output[i] = x[i] > T.Zero ? v[i] : alpha * v[i];
    }

    /// <summary>Element ranges of either pass on several threads.</summary>
    private ref struct Work : IPartitionedWork
    {
        public ReadOnlySpan<T> X, Dy;
        public Span<T> Y;
        public T Alpha;
        public bool Backward;
        public int Parts;

        public readonly void Run(int partition)
        {
            var (start, count) = Parallelism.Range(X.Length, Parts, partition);
            if (Backward) BackwardKernel(X.Slice(start, count), Dy.Slice(start, count), Y.Slice(start, count), Alpha);
            else ForwardKernel(X.Slice(start, count), Y.Slice(start, count), Alpha);
        }
    }
}

/// <summary>The description of a <see cref="LeakyRelu{T}"/>: token <c>leakyrelu{alpha}</c>, e.g. <c>leakyrelu0.1</c>; ONNX <c>LeakyRelu</c>.</summary>
/// <param name="Alpha">α, the slope for negative inputs (0 ≤ α ≤ 1).</param>
public sealed record LeakyReluSpec(double Alpha) : LayerSpec
{
    /// <inheritdoc />
    public override LayerKind Kind => LeakyReluKind.Instance;

    /// <inheritdoc />
    public override string Token => "leakyrelu" + LayerToken.Format(Alpha);

    /// <inheritdoc />
    public override Layer<T> Create<T>() => new LeakyRelu<T>(Alpha);

    /// <summary>LeakyRelu with attribute alpha (a float32, as ONNX stores it).</summary>
    internal override void ExportOnnx<T>(OnnxLayerExport<T> export, Layer<T> layer) =>
        export.Emit(export.Node("LeakyRelu", "leakyrelu", [export.Input], OnnxGraphWriter.Float("alpha", (float)Alpha)), export.Flat);
}

/// <summary>The leaky-ReLU kind: grammar <c>leakyrelu{alpha}</c>; imports ONNX <c>LeakyRelu</c>.</summary>
public sealed partial class LeakyReluKind : LayerKind
{
    /// <summary>The registered instance.</summary>
    public static LeakyReluKind Instance { get; } = new();

    /// <inheritdoc />
    public override string Name => "leakyrelu";

    /// <inheritdoc />
    public override string Grammar => "leakyrelu{alpha}";

    /// <inheritdoc />
    public override string Summary => "leaky ReLU: x for x > 0, alpha·x otherwise (0 <= alpha <= 1), element by element";

    /// <inheritdoc />
    public override LayerTraits Traits => LayerTraits.Bounded | LayerTraits.Elementwise;

    /// <inheritdoc />
    public override LayerSpec? Parse(LayerToken token)
    {
        ArgumentNullException.ThrowIfNull(token);
        if (token.Head == "leakyrelu") throw token.Error("leakyrelu needs its slope: leakyrelu{alpha} with 0 <= alpha <= 1, e.g. leakyrelu0.1");
        var m = Head().Match(token.Head);
        if (!m.Success) return null;
        double alpha = token.Number(m.Groups[1].Value, "leaky ReLU slope");
        if (!(alpha <= 1)) throw token.Error($"leaky ReLU slope {m.Groups[1].Value} is above 1");
        token.RequireNoOptions();
        return new LeakyReluSpec(alpha);
    }

    /// <inheritdoc />
    internal override IReadOnlyList<string> OnnxOperators => ["LeakyRelu"];

    /// <summary>
    /// LeakyRelu (alpha 0.01 when absent, as ONNX defines) → <c>leakyrelu{alpha}</c>, the float32 attribute read
    /// as the shortest decimal that gives it (0.1f as 0.1); a slope outside [0, 1] is refused.
    /// </summary>
    internal override void ImportOnnx(OnnxGraphImporter import, NodeProto node)
    {
        var a = import.Attributes(node, "alpha");
        import.RequireInputs(node, 1, 1);
        import.RequireOutputs(node, 1);
        float alpha = a.Float("alpha", 0.01f);
        if (!(alpha >= 0 && alpha <= 1)) throw import.NodeFail($"has alpha {alpha}; SharpCnn's leaky ReLU takes a slope in [0, 1]");
        import.AddLayer(new LeakyReluSpec(OnnxGraphImporter.ShortestDecimal(alpha, d => (float)d == alpha)), [], node);
    }

    [GeneratedRegex(@"^leakyrelu(.+)$")]
    private static partial Regex Head();
}
