using System.Buffers.Binary;
using System.IO.Hashing;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using SharpCnn.Model;
using SharpCnn.Tensors;

namespace SharpCnn.Io;

/// <summary>What a model file says about the model, besides the weights.</summary>
public sealed record ModelHeader
{
    /// <summary>The layer spec (canonical form).</summary>
    [JsonPropertyName("spec")] public required string Spec { get; init; }

    /// <summary>The loss name.</summary>
    [JsonPropertyName("loss")] public required string Loss { get; init; }

    /// <summary>Input shape [C, H, W].</summary>
    [JsonPropertyName("input")] public required int[] Input { get; init; }

    /// <summary>"float32" or "float64": how the weights are stored.</summary>
    [JsonPropertyName("precision")] public required string Precision { get; init; }

    /// <summary>Each parameter's layer position (1-based), name and element count, in storage order.</summary>
    [JsonPropertyName("parameters")] public required ParameterEntry[] Parameters { get; init; }

    /// <summary>Free-form notes (training command, accuracy, date).</summary>
    [JsonPropertyName("metadata")] public Dictionary<string, string> Metadata { get; init; } = [];
}

/// <summary>One stored parameter.</summary>
/// <param name="Layer">1-based layer position.</param>
/// <param name="Name">weight, bias, beta.</param>
/// <param name="Length">Number of values.</param>
public sealed record ParameterEntry(
    [property: JsonPropertyName("layer")] int Layer,
    [property: JsonPropertyName("name")] string Name,
    [property: JsonPropertyName("length")] int Length);

/// <summary>
/// The model file: architecture and weights in one file, exact round trip.
///
/// Layout (little-endian):
///   bytes 0-7    magic "SCNNMODL"
///   bytes 8-11   format version (1)
///   bytes 12-15  header length L
///   L bytes      header, UTF-8 JSON (<see cref="ModelHeader"/>)
///   payload      every parameter's values in header order, raw IEEE-754 float32 or float64
///   last 8 bytes XxHash64 of everything before it
/// Saving writes a temporary file next to the target, flushes it to disk and renames it
/// over the target, so a crash mid-save leaves the previous file intact. Loading checks
/// every length against the file size before allocating, and the checksum; any problem is
/// a <see cref="FileFormatException"/> naming the file, the offset and what was expected.
/// </summary>
public static class ModelFile
{
    private static ReadOnlySpan<byte> Magic => "SCNNMODL"u8;

    /// <summary>The format version this code writes and reads.</summary>
    public const int Version = 1;

    private const int MaxHeaderBytes = 1 << 20;

    /// <summary>Saves <paramref name="network"/> to <paramref name="path"/> atomically.</summary>
    public static void Save<T>(Network<T> network, string path, IReadOnlyDictionary<string, string>? metadata = null)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var entries = new List<ParameterEntry>();
        for (int k = 0; k < network.Layers.Count; k++)
            foreach (var p in network.Layers[k].Parameters)
                entries.Add(new ParameterEntry(k + 1, p.Name, p.Length));
        var header = new ModelHeader
        {
            Spec = network.Spec,
            Loss = network.Loss.Name,
            Input = [network.InputShape.Channels, network.InputShape.Height, network.InputShape.Width],
            Precision = PrecisionName<T>(),
            Parameters = [.. entries],
            Metadata = metadata is null ? [] : new Dictionary<string, string>(metadata),
        };
        byte[] headerBytes = JsonSerializer.SerializeToUtf8Bytes(header, ModelFileJson.Default.ModelHeader);

        string full = Path.GetFullPath(path);
        string dir = Path.GetDirectoryName(full) ?? ".";
        Directory.CreateDirectory(dir);
        string temp = Path.Combine(dir, $".{Path.GetFileName(full)}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp");
        try
        {
            using (var stream = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16))
            {
                var hash = new XxHash64();
                void Write(ReadOnlySpan<byte> bytes)
                {
                    stream.Write(bytes);
                    hash.Append(bytes);
                }
                Span<byte> word = stackalloc byte[4];
                Write(Magic);
                BinaryPrimitives.WriteInt32LittleEndian(word, Version);
                Write(word);
                BinaryPrimitives.WriteInt32LittleEndian(word, headerBytes.Length);
                Write(word);
                Write(headerBytes);
                foreach (var p in network.Parameters)
                {
                    if (!BitConverter.IsLittleEndian) throw new PlatformNotSupportedException("model files are written on little-endian machines");
                    Write(MemoryMarshal.AsBytes(p.Value.AsSpan()));
                }
                Span<byte> digest = stackalloc byte[8];
                BinaryPrimitives.WriteUInt64LittleEndian(digest, hash.GetCurrentHashAsUInt64());
                stream.Write(digest);
                stream.Flush(flushToDisk: true);
            }
            File.Move(temp, full, overwrite: true);
        }
        catch
        {
            try { File.Delete(temp); } catch (IOException) { }
            throw;
        }
    }

    /// <summary>Reads only the header of a model file (validated like a full load, except the weights).</summary>
    public static ModelHeader ReadHeader(string path) => Read(path, out _);

    /// <summary>Loads a model saved by <see cref="Save{T}"/> in precision <typeparamref name="T"/> (converting if it was saved in the other one).</summary>
    public static Network<T> Load<T>(string path) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var header = Read(path, out byte[] payload);
        Network<T> network;
        try
        {
            network = ModelSpec.Parse(header.Spec).Build<T>(new Shape(header.Input[0], header.Input[1], header.Input[2]), header.Loss);
        }
        catch (ModelSpecException e)
        {
            throw new FileFormatException(path, 16, $"the stored model spec is not valid: {e.Message}");
        }
        var parameters = network.Parameters.ToArray();
        if (parameters.Length != header.Parameters.Length)
            throw new FileFormatException(path, 16, $"the header lists {header.Parameters.Length} parameters, the spec '{header.Spec}' has {parameters.Length}");
        int elementSize = header.Precision == "float64" ? 8 : 4;
        long offset = 0;
        for (int i = 0; i < parameters.Length; i++)
        {
            var p = parameters[i];
            var entry = header.Parameters[i];
            if (entry.Length != p.Length || entry.Name != p.Name)
                throw new FileFormatException(path, 16, $"parameter {i + 1} is {entry.Name}[{entry.Length}] in the header, the spec needs {p.Name}[{p.Length}]");
            var bytes = payload.AsSpan((int)offset, p.Length * elementSize);
            if (elementSize == 8) Convert(MemoryMarshal.Cast<byte, double>(bytes), p.Value);
            else Convert(MemoryMarshal.Cast<byte, float>(bytes), p.Value);
            p.ApplyMask();
            offset += bytes.Length;
        }
        return network;
    }

    private static void Convert<TFrom, T>(ReadOnlySpan<TFrom> from, Span<T> to)
        where TFrom : unmanaged, IFloatingPointIeee754<TFrom>
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (typeof(TFrom) == typeof(T))
        {
            MemoryMarshal.Cast<TFrom, T>(from).CopyTo(to);
            return;
        }
        for (int i = 0; i < from.Length; i++) to[i] = T.CreateChecked(from[i]);
    }

    private static ModelHeader Read(string path, out byte[] payload)
    {
        byte[] data;
        try
        {
            var info = new FileInfo(path);
            if (!info.Exists) throw new FileNotFoundException($"{path}: no such model file", path);
            if (info.Length > int.MaxValue) throw new FileFormatException(path, 0, $"a model file of {info.Length} bytes is larger than this reader accepts (2 GiB)");
            data = File.ReadAllBytes(path);
        }
        catch (UnauthorizedAccessException e)
        {
            throw new FileFormatException(path, -1, "cannot be read: " + e.Message, e);
        }
        if (data.Length < 16 + 8) throw new FileFormatException(path, data.Length, $"expected at least 24 bytes (magic, version, header length, checksum), the file has {data.Length}");
        if (!data.AsSpan(0, 8).SequenceEqual(Magic)) throw new FileFormatException(path, 0, "expected the magic \"SCNNMODL\": this is not a SharpCnn model file");
        int version = BinaryPrimitives.ReadInt32LittleEndian(data.AsSpan(8));
        if (version != Version) throw new FileFormatException(path, 8, $"expected format version {Version}, found {version}");
        int headerLength = BinaryPrimitives.ReadInt32LittleEndian(data.AsSpan(12));
        if (headerLength <= 0 || headerLength > MaxHeaderBytes || 16L + headerLength + 8 > data.Length)
            throw new FileFormatException(path, 12, $"header length {headerLength} does not fit in a file of {data.Length} bytes");
        ulong stored = BinaryPrimitives.ReadUInt64LittleEndian(data.AsSpan(data.Length - 8));
        ulong actual = XxHash64.HashToUInt64(data.AsSpan(0, data.Length - 8));
        if (stored != actual) throw new FileFormatException(path, data.Length - 8, $"checksum mismatch (stored {stored:x16}, content hashes to {actual:x16}): the file is damaged or truncated");
        ModelHeader? header;
        try
        {
            header = JsonSerializer.Deserialize(data.AsSpan(16, headerLength), ModelFileJson.Default.ModelHeader);
        }
        catch (JsonException e)
        {
            throw new FileFormatException(path, 16 + (e.BytePositionInLine ?? 0), "the header is not valid JSON: " + e.Message, e);
        }
        if (header is null || header.Spec is null || header.Input is not { Length: 3 } || header.Parameters is null)
            throw new FileFormatException(path, 16, "the header lacks spec, input [C,H,W] or parameters");
        if (header.Precision is not ("float32" or "float64")) throw new FileFormatException(path, 16, $"expected precision float32 or float64, found '{header.Precision}'");
        int elementSize = header.Precision == "float64" ? 8 : 4;
        long expected = 0;
        foreach (var e in header.Parameters)
        {
            if (e is null || e.Length <= 0) throw new FileFormatException(path, 16, "a parameter entry has no positive length");
            expected += (long)e.Length * elementSize;
        }
        long payloadStart = 16 + headerLength, payloadLength = data.Length - 8 - payloadStart;
        if (expected != payloadLength)
            throw new FileFormatException(path, payloadStart, $"expected {expected} bytes of weights after the header, found {payloadLength}");
        payload = data.AsSpan((int)payloadStart, (int)payloadLength).ToArray();
        return header;
    }

    private static string PrecisionName<T>() => typeof(T) == typeof(double) ? "float64" : typeof(T) == typeof(float) ? "float32"
        : throw new NotSupportedException($"model files store float or double, not {typeof(T).Name}");
}

[JsonSourceGenerationOptions(WriteIndented = false)]
[JsonSerializable(typeof(ModelHeader))]
internal sealed partial class ModelFileJson : JsonSerializerContext;
