using System.Runtime.InteropServices;
using Google.Protobuf;
using SharpCnn.Formats.Onnx.Proto;

namespace SharpCnn.Formats.Onnx;

/// <summary>
/// Appends nodes and constant tensors to an ONNX graph under unique names: the small
/// vocabulary <see cref="OnnxExport"/> writes a network with.
/// </summary>
internal sealed class OnnxGraphWriter
{
    private readonly HashSet<string> names = [];

    /// <summary>The graph being written.</summary>
    public GraphProto Graph { get; } = new();

    /// <summary>Reserves <paramref name="name"/> (or a numbered variant of it if taken) as a tensor name.</summary>
    public string Name(string name)
    {
        string unique = name;
        for (int i = 2; !names.Add(unique); i++) unique = $"{name}_{i}";
        return unique;
    }

    /// <summary>Adds a float32 constant with the given dimensions; returns its name.</summary>
    public string Floats(string name, long[] dims, ReadOnlySpan<float> values)
    {
        CheckEndianness();
        var tensor = new TensorProto { Name = Name(name), DataType = (int)TensorProto.Types.DataType.Float };
        tensor.Dims.AddRange(dims);
        tensor.RawData = ByteString.CopyFrom(MemoryMarshal.AsBytes(values));
        Graph.Initializer.Add(tensor);
        return tensor.Name;
    }

    /// <summary>Adds an int64 constant vector; returns its name.</summary>
    public string Int64s(string name, params long[] values)
    {
        CheckEndianness();
        var tensor = new TensorProto { Name = Name(name), DataType = (int)TensorProto.Types.DataType.Int64 };
        tensor.Dims.Add(values.Length);
        tensor.RawData = ByteString.CopyFrom(MemoryMarshal.AsBytes(values.AsSpan()));
        Graph.Initializer.Add(tensor);
        return tensor.Name;
    }

    /// <summary>Adds a node reading <paramref name="inputs"/> and writing one new tensor named after <paramref name="output"/>; returns that name.</summary>
    public string Node(string opType, string nodeName, string output, string[] inputs, params AttributeProto[] attributes)
    {
        var node = new NodeProto { OpType = opType, Name = nodeName };
        node.Input.AddRange(inputs);
        string name = Name(output);
        node.Output.Add(name);
        node.Attribute.AddRange(attributes);
        Graph.Node.Add(node);
        return name;
    }

    private static void CheckEndianness()
    {
        if (!BitConverter.IsLittleEndian) throw new PlatformNotSupportedException("ONNX raw tensor data is little-endian; this exporter runs on little-endian machines");
    }

    /// <summary>An integer attribute.</summary>
    public static AttributeProto Int(string name, long value) =>
        new() { Name = name, Type = AttributeProto.Types.AttributeType.Int, I = value };

    /// <summary>A float attribute.</summary>
    public static AttributeProto Float(string name, float value) =>
        new() { Name = name, Type = AttributeProto.Types.AttributeType.Float, F = value };

    /// <summary>An integer-list attribute.</summary>
    public static AttributeProto Ints(string name, params long[] values)
    {
        var a = new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Ints };
        a.Ints.AddRange(values);
        return a;
    }

    /// <summary>A string attribute.</summary>
    public static AttributeProto String(string name, string value) =>
        new() { Name = name, Type = AttributeProto.Types.AttributeType.String, S = ByteString.CopyFromUtf8(value) };

    /// <summary>A float tensor value description: element type float32, the batch dimension symbolic ("N").</summary>
    public static ValueInfoProto FloatValue(string name, string batch, params long[] sampleDims)
    {
        var shape = new TensorShapeProto();
        shape.Dim.Add(new TensorShapeProto.Types.Dimension { DimParam = batch });
        foreach (long d in sampleDims) shape.Dim.Add(new TensorShapeProto.Types.Dimension { DimValue = d });
        return new ValueInfoProto
        {
            Name = name,
            Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)TensorProto.Types.DataType.Float, Shape = shape } },
        };
    }
}
