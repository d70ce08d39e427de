using System.Runtime.InteropServices;
using Google.Protobuf;
using SharpCnn.Formats.Onnx;
using SharpCnn.Formats.Onnx.Proto;
using DataType = SharpCnn.Formats.Onnx.Proto.TensorProto.Types.DataType;

namespace SharpCnn.Tests.Formats.Onnx;

/// <summary>Builds small ONNX models node by node for importer tests (valid ones, and broken ones on purpose).</summary>
internal sealed class OnnxTestModel
{
    public ModelProto Model { get; } = new() { IrVersion = 7, ProducerName = "test", Graph = new GraphProto { Name = "g" } };

    public GraphProto Graph => Model.Graph;

    /// <summary>A model with opset <paramref name="opset"/> and a float input "x" of [N, dims...].</summary>
    public OnnxTestModel(long opset = 13, params long[] dims)
    {
        Model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = opset });
        if (dims.Length > 0) Graph.Input.Add(Value("x", (int)DataType.Float, dims));
    }

    /// <summary>A tensor value info with a symbolic batch dimension followed by <paramref name="dims"/>.</summary>
    public static ValueInfoProto Value(string name, int elemType, params long[] dims)
    {
        var shape = new TensorShapeProto();
        shape.Dim.Add(new TensorShapeProto.Types.Dimension { DimParam = "N" });
        foreach (long d in dims) shape.Dim.Add(new TensorShapeProto.Types.Dimension { DimValue = d });
        return new ValueInfoProto { Name = name, Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = elemType, Shape = shape } } };
    }

    /// <summary>A float initializer stored as raw_data.</summary>
    public string Floats(string name, long[] dims, params float[] values)
    {
        var t = new TensorProto { Name = name, DataType = (int)DataType.Float, RawData = ByteString.CopyFrom(MemoryMarshal.AsBytes(values.AsSpan())) };
        t.Dims.AddRange(dims);
        Graph.Initializer.Add(t);
        return name;
    }

    /// <summary>A float initializer stored in float_data.</summary>
    public string FloatData(string name, long[] dims, params float[] values)
    {
        var t = new TensorProto { Name = name, DataType = (int)DataType.Float };
        t.Dims.AddRange(dims);
        t.FloatData.AddRange(values);
        Graph.Initializer.Add(t);
        return name;
    }

    /// <summary>A double initializer stored in double_data.</summary>
    public string Doubles(string name, long[] dims, params double[] values)
    {
        var t = new TensorProto { Name = name, DataType = (int)DataType.Double };
        t.Dims.AddRange(dims);
        t.DoubleData.AddRange(values);
        Graph.Initializer.Add(t);
        return name;
    }

    /// <summary>An int64 vector initializer.</summary>
    public string Int64s(string name, params long[] values)
    {
        var t = new TensorProto { Name = name, DataType = (int)DataType.Int64 };
        t.Dims.Add(values.Length);
        t.Int64Data.AddRange(values);
        Graph.Initializer.Add(t);
        return name;
    }

    /// <summary>Appends a node writing <paramref name="output"/>.</summary>
    public NodeProto Node(string op, string[] inputs, string output, params AttributeProto[] attributes)
    {
        var node = new NodeProto { OpType = op, Name = output + "_node" };
        node.Input.AddRange(inputs);
        node.Output.Add(output);
        node.Attribute.AddRange(attributes);
        Graph.Node.Add(node);
        return node;
    }

    /// <summary>Declares the graph output.</summary>
    public OnnxTestModel Output(string name)
    {
        Graph.Output.Add(new ValueInfoProto { Name = name });
        return this;
    }

    public byte[] Bytes() => Model.ToByteArray();

    public static AttributeProto Int(string name, long v) => OnnxGraphWriter.Int(name, v);

    public static AttributeProto Ints(string name, params long[] v) => OnnxGraphWriter.Ints(name, v);

    public static AttributeProto Str(string name, string v) => OnnxGraphWriter.String(name, v);

    public static AttributeProto Float(string name, float v) => new() { Name = name, Type = AttributeProto.Types.AttributeType.Float, F = v };

    /// <summary>Seeded values in [-1, 1).</summary>
    public static float[] Random(int count, ulong seed)
    {
        var rng = new SharpCnn.Tensors.Rng(seed);
        var v = new float[count];
        for (int i = 0; i < count; i++) v[i] = (float)(2 * rng.NextDouble() - 1);
        return v;
    }
}
