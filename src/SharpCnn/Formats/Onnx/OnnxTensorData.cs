using System.Buffers.Binary;
using SharpCnn.Formats.Onnx.Proto;
using DataType = SharpCnn.Formats.Onnx.Proto.TensorProto.Types.DataType;

namespace SharpCnn.Formats.Onnx;

/// <summary>
/// Reads the values of an ONNX tensor without trusting it: the dimensions are checked
/// (non-negative, product within an array's reach) and the element count they promise is
/// compared with the data actually present (raw_data bytes or the typed field) before any
/// array is allocated. Problems come back as a message; the caller names the file and node.
/// </summary>
internal static class OnnxTensorData
{
    /// <summary>The most elements a tensor may declare.</summary>
    public const long MaxElements = 1L << 28;

    /// <summary>The number of elements the dimensions promise, or an error.</summary>
    public static long Count(TensorProto tensor, out string? error)
    {
        long count = 1;
        error = null;
        for (int i = 0; i < tensor.Dims.Count; i++)
        {
            long d = tensor.Dims[i];
            if (d < 0 || d > MaxElements)
            {
                error = $"has dimension {i} = {d}, outside 0..{MaxElements}";
                return -1;
            }
            count *= d;
            if (count > MaxElements)
            {
                error = $"has dimensions [{string.Join(", ", tensor.Dims)}]: more than {MaxElements} elements";
                return -1;
            }
        }
        return count;
    }

    /// <summary>How many float or double values <paramref name="tensor"/> really carries (raw bytes or typed fields), whatever its dimensions claim; 0 for other types.</summary>
    public static long Carried(TensorProto tensor) => (DataType)tensor.DataType switch
    {
        DataType.Float => tensor.HasRawData ? tensor.RawData.Length / 4 : tensor.FloatData.Count,
        DataType.Double => tensor.HasRawData ? tensor.RawData.Length / 8 : tensor.DoubleData.Count,
        _ => 0,
    };

    /// <summary>A float or double tensor's values as doubles (exact for both); every value must be finite (or -inf where allowed).</summary>
    public static double[] Reals(TensorProto tensor, out string? error, bool allowNegativeInfinity = false)
    {
        long count = Count(tensor, out error);
        if (error is not null) return [];
        if (IsExternal(tensor, out error)) return [];
        var type = (DataType)tensor.DataType;
        int size = type switch { DataType.Float => 4, DataType.Double => 8, _ => 0 };
        if (size == 0)
        {
            error = $"holds {TypeName(tensor.DataType)} values; SharpCnn imports float and double weights";
            return [];
        }
        double[] values;
        if (tensor.HasRawData)
        {
            if (tensor.RawData.Length != count * size)
            {
                error = $"has {tensor.RawData.Length} bytes of raw data, its dimensions [{string.Join(", ", tensor.Dims)}] need {count * size}";
                return [];
            }
            var raw = tensor.RawData.Span;
            values = new double[count];
            for (int i = 0; i < values.Length; i++)
                values[i] = size == 4 ? BinaryPrimitives.ReadSingleLittleEndian(raw[(i * 4)..]) : BinaryPrimitives.ReadDoubleLittleEndian(raw[(i * 8)..]);
        }
        else if (type == DataType.Float)
        {
            if (tensor.FloatData.Count != count)
            {
                error = $"has {tensor.FloatData.Count} float_data values, its dimensions [{string.Join(", ", tensor.Dims)}] need {count}";
                return [];
            }
            values = new double[count];
            for (int i = 0; i < values.Length; i++) values[i] = tensor.FloatData[i];
        }
        else
        {
            if (tensor.DoubleData.Count != count)
            {
                error = $"has {tensor.DoubleData.Count} double_data values, its dimensions [{string.Join(", ", tensor.Dims)}] need {count}";
                return [];
            }
            values = [.. tensor.DoubleData];
        }
        for (int i = 0; i < values.Length; i++)
        {
            if (!double.IsFinite(values[i]) && !(allowNegativeInfinity && double.IsNegativeInfinity(values[i])))
            {
                error = $"has the non-finite value {values[i]} at element {i}";
                return [];
            }
        }
        return values;
    }

    /// <summary>An int64 or int32 tensor's values (shapes, pads, axes).</summary>
    public static long[] Integers(TensorProto tensor, out string? error)
    {
        long count = Count(tensor, out error);
        if (error is not null) return [];
        if (IsExternal(tensor, out error)) return [];
        var type = (DataType)tensor.DataType;
        int size = type switch { DataType.Int64 => 8, DataType.Int32 => 4, _ => 0 };
        if (size == 0)
        {
            error = $"holds {TypeName(tensor.DataType)} values where integers (int64) are expected";
            return [];
        }
        if (count > 1 << 16)
        {
            error = $"has {count} integers; a shape or padding list has only a few";
            return [];
        }
        if (tensor.HasRawData)
        {
            if (tensor.RawData.Length != count * size)
            {
                error = $"has {tensor.RawData.Length} bytes of raw data, its dimensions [{string.Join(", ", tensor.Dims)}] need {count * size}";
                return [];
            }
            var raw = tensor.RawData.Span;
            var values = new long[count];
            for (int i = 0; i < values.Length; i++)
                values[i] = size == 8 ? BinaryPrimitives.ReadInt64LittleEndian(raw[(i * 8)..]) : BinaryPrimitives.ReadInt32LittleEndian(raw[(i * 4)..]);
            return values;
        }
        int present = size == 8 ? tensor.Int64Data.Count : tensor.Int32Data.Count;
        if (present != count)
        {
            error = $"has {present} {(size == 8 ? "int64_data" : "int32_data")} values, its dimensions [{string.Join(", ", tensor.Dims)}] need {count}";
            return [];
        }
        return size == 8 ? [.. tensor.Int64Data] : [.. tensor.Int32Data.Select(v => (long)v)];
    }

    /// <summary>The name of an ONNX element type code, for messages.</summary>
    public static string TypeName(int code) => Enum.IsDefined(typeof(DataType), code) ? ((DataType)code).ToString().ToLowerInvariant() : $"unknown type {code}";

    private static bool IsExternal(TensorProto tensor, out string? error)
    {
        error = tensor.DataLocation == TensorProto.Types.DataLocation.External || tensor.ExternalData.Count > 0
            ? "keeps its data in an external file; SharpCnn imports self-contained models only"
            : null;
        return error is not null;
    }
}
