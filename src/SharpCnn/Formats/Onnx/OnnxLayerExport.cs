using SharpCnn.Formats.Onnx.Proto;
using SharpCnn.Layers;
using SharpCnn.Tensors;

namespace SharpCnn.Formats.Onnx;

/// <summary>
/// One layer's turn in an ONNX export: the tensor its input is in, and the small vocabulary a layer's
/// description (<see cref="LayerSpec.ExportOnnx{T}"/>) writes its nodes with. Names are prefixed by the
/// layer's position (<c>L3_conv</c>, <c>L3.weight</c>), so every layer's tensors are its own. The
/// description ends its turn with <see cref="Emit"/> (or <see cref="Unchanged"/>).
/// </summary>
internal sealed class OnnxLayerExport<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly OnnxGraphWriter writer;
    private readonly Layer<T> layer;
    private string? output;
    private bool outputFlat;

    public OnnxLayerExport(OnnxGraphWriter writer, int position, Layer<T> layer, string input, bool flat)
    {
        this.writer = writer;
        this.layer = layer;
        Position = position;
        Input = input;
        Flat = flat;
    }

    /// <summary>The layer's 1-based position in the network.</summary>
    public int Position { get; }

    /// <summary>The prefix of this layer's node and tensor names, <c>L{position}</c>.</summary>
    public string Prefix => $"L{Position}";

    /// <summary>The tensor holding the layer's input (after <see cref="AsMaps"/> or <see cref="AsVector"/>, in that layout).</summary>
    public string Input { get; private set; }

    /// <summary>Whether <see cref="Input"/> is [N, D] (true) or [N, C, H, W].</summary>
    public bool Flat { get; private set; }

    /// <summary>The axes holding one sample's values (what SharpCnn's per-sample vector layers reduce over).</summary>
    public long[] SampleAxes => Flat ? [1] : [1, 2, 3];

    /// <summary>The input as [N, C, H, W]: a flat vector becomes [N, D, 1, 1] through a Reshape. Returns its tensor.</summary>
    public string AsMaps()
    {
        if (!Flat) return Input;
        Shape shape = layer.InputShape;
        string dims = writer.Int64s($"{Prefix}.maps_shape", -1, shape.Channels, shape.Height, shape.Width);
        Input = writer.Node("Reshape", $"{Prefix}_maps", $"{Prefix}_maps", [Input, dims]);
        Flat = false;
        return Input;
    }

    /// <summary>The input as [N, D] through a Flatten (axis 1). Returns its tensor.</summary>
    public string AsVector()
    {
        if (Flat) return Input;
        Input = writer.Node("Flatten", $"{Prefix}_flatten", $"{Prefix}_flat", [Input], OnnxGraphWriter.Int("axis", 1));
        Flat = true;
        return Input;
    }

    /// <summary>Adds a node named and writing <c>L{position}_{name}</c>; returns the output tensor's name.</summary>
    public string Node(string op, string name, string[] inputs, params AttributeProto[] attributes) =>
        writer.Node(op, $"{Prefix}_{name}", $"{Prefix}_{name}", inputs, attributes);

    /// <summary>Adds a node named <c>L{position}_{name}</c> writing <c>L{position}_{output}</c>; returns the output tensor's name.</summary>
    public string Node(string op, string name, string outputName, string[] inputs, params AttributeProto[] attributes) =>
        writer.Node(op, $"{Prefix}_{name}", $"{Prefix}_{outputName}", inputs, attributes);

    /// <summary>Adds a float32 constant <c>L{position}.{name}</c>; returns its name.</summary>
    public string Floats(string name, long[] dims, ReadOnlySpan<float> values) => writer.Floats($"{Prefix}.{name}", dims, values);

    /// <summary>Adds an int64 constant vector <c>L{position}.{name}</c>; returns its name.</summary>
    public string Int64s(string name, params long[] values) => writer.Int64s($"{Prefix}.{name}", values);

    /// <summary>An element-by-element operator with no attributes, in whatever layout the input is.</summary>
    public void Elementwise(string op, string name) => Emit(Node(op, name, [Input]), Flat);

    /// <summary>Ends the layer's turn: <paramref name="tensor"/> holds its output, [N, D] when <paramref name="flat"/>.</summary>
    public void Emit(string tensor, bool flat)
    {
        if (output is not null) throw new InvalidOperationException($"layer {Position} ({layer.Token}) emitted two outputs");
        output = tensor;
        outputFlat = flat;
    }

    /// <summary>Ends the layer's turn with no node: its output is its input.</summary>
    public void Unchanged() => Emit(Input, Flat);

    /// <summary>The error for a layer the exporter cannot write: <c>layer {position} ({token}) {why}</c>.</summary>
    public NotSupportedException Unsupported(string why) => new($"layer {Position} ({layer.Token}) {why}");

    /// <summary>The output tensor and its layout, once the layer's turn has ended.</summary>
    public (string Tensor, bool Flat) Result() =>
        output is null ? throw new InvalidOperationException($"layer {Position} ({layer.Token}) wrote no output") : (output, outputFlat);

    /// <summary>Values as float32, the precision ONNX weights are stored in.</summary>
    public static float[] ToFloats(ReadOnlySpan<T> values)
    {
        var result = new float[values.Length];
        for (int i = 0; i < values.Length; i++) result[i] = float.CreateSaturating(values[i]);
        return result;
    }
}
