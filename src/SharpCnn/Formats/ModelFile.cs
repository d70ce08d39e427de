using System.Buffers.Binary;
using System.Diagnostics;
using System.IO.Hashing;
using System.Runtime.InteropServices;
using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;
using SharpCnn.Model;
using SharpCnn.Tensors;

namespace SharpCnn.Formats;

/// <summary>What a model file says about the model, besides the weights.</summary>
public sealed record ModelHeader
{
    /// <summary>The layer spec (canonical form).</summary>
    [JsonPropertyName("spec")] public required string Spec { get; init; }

    /// <summary>The loss name.</summary>
    [JsonPropertyName("loss")] public required string Loss { get; init; }

    /// <summary>Input shape [C, H, W].</summary>
    [JsonPropertyName("input")] public required int[] Input { get; init; }

    /// <summary>How the weights are stored: "float32" or "float64" (<see cref="Precisions.FileName"/>).</summary>
    [JsonPropertyName("precision")] public required string Precision { get; init; }

    /// <summary><see cref="Precision"/> as a <see cref="Tensors.Precision"/> (a header read from a file always names one).</summary>
    /// <exception cref="InvalidOperationException">The header names neither float32 nor float64.</exception>
    [JsonIgnore]
    public Tensors.Precision StoredPrecision => Precisions.TryParseFileName(Precision, out var precision) ? precision
        : throw new InvalidOperationException($"the header names the unknown precision '{Precision}'");

    /// <summary>Each parameter's layer position (1-based), name and element count, in storage order.</summary>
    [JsonPropertyName("parameters")] public required ParameterEntry[] Parameters { get; init; }

    /// <summary>The classes' names by output index, or null when the model's classes are only numbers.</summary>
    [JsonPropertyName("class_names"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public string[]? ClassNames { get; init; }

    /// <summary>Free-form notes (training command, accuracy, date).</summary>
    [JsonPropertyName("metadata")] public Dictionary<string, string> Metadata { get; init; } = [];

    /// <summary>
    /// The training section of a checkpoint (format version 2) as written, null in a plain model file. The
    /// model file checks only its <c>arrays</c> member (<see cref="StateArrayEntry"/>), which lays out the
    /// payload after the weights; its meaning belongs to the checkpoint reader (<c>SharpCnn.Training.CheckpointFile</c>).
    /// </summary>
    [JsonPropertyName("training"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public JsonElement? Training { get; init; }
}

/// <summary>The one member of a training section the model file reads: the arrays after the weights.</summary>
/// <param name="Arrays">Name, type and length of each array, in file order.</param>
internal sealed record TrainingArrays([property: JsonPropertyName("arrays")] StateArrayEntry[]? Arrays);

/// <summary>One stored parameter.</summary>
/// <param name="Layer">1-based layer position.</param>
/// <param name="Name">weight, bias, beta.</param>
/// <param name="Length">Number of values.</param>
public sealed record ParameterEntry(
    [property: JsonPropertyName("layer")] int Layer,
    [property: JsonPropertyName("name")] string Name,
    [property: JsonPropertyName("length")] int Length);

/// <summary>
/// The model file: architecture and weights in one file, exact round trip. A checkpoint
/// (<c>SharpCnn.Training.CheckpointFile</c>) is the same file with a training section added.
///
/// Layout (little-endian):
///   bytes 0-7    magic "SCNNMODL"
///   bytes 8-11   format version: 1 = a model; 2 = a model plus a training section (a checkpoint)
///   bytes 12-15  header length L (1 .. 1 MiB)
///   L bytes      header, UTF-8 JSON (<see cref="ModelHeader"/>; in version 2 its "training"
///                member lists the training arrays)
///   payload      every parameter's values in header order, raw IEEE-754 float32 or float64
///   [version 2]  every training array in the order the training section lists them
///                (float32, float64 or int32, each with its length in the header)
///   last 8 bytes XxHash64 of everything before it
/// Version 2 is only written for checkpoints, so plain model files stay readable by
/// readers of version 1, and every version-2 file is still a model file: <see cref="Load{T}(string)"/>
/// reads its model and ignores the training arrays.
///
/// Saving writes a temporary file next to the target, flushes it to disk and renames it
/// over the target, so a crash mid-save leaves the previous file intact (temporary files
/// left by killed writers are removed by the next save to the same target). Loading trusts
/// nothing: every length is checked against the real file size before anything is
/// allocated, then the checksum; the spec may not ask for more parameter values than the
/// file holds (checked before the network allocates them, see <see cref="ParameterBudget"/>);
/// stored weights must be finite. Any problem is a <see cref="FileFormatException"/> naming
/// the file, the byte offset and what was expected.
/// </summary>
public static class ModelFile
{
    private static ReadOnlySpan<byte> Magic => "SCNNMODL"u8;

    /// <summary>The format version of plain model files.</summary>
    public const int Version = 1;

    /// <summary>The format version of checkpoints (model plus training section).</summary>
    public const int CheckpointVersion = 2;

    /// <summary>Largest header accepted, in bytes.</summary>
    public const int MaxHeaderBytes = 1 << 20;

    /// <summary>Largest input sample accepted, in values (C x H x W).</summary>
    public const int MaxInputValues = 1 << 24;

    /// <summary>Offset of the JSON header: magic, version and header length come first.</summary>
    internal const int HeaderOffset = 16;

    /// <summary>Saves <paramref name="network"/> to <paramref name="path"/> atomically.</summary>
    public static void Save<T>(Network<T> network, string path, IReadOnlyDictionary<string, string>? metadata = null)
        where T : unmanaged, IFloatingPointIeee754<T> =>
        Write(network, path, metadata, null, []);

    /// <summary>Reads only the header of a model file (validated like a full load, except the weights).</summary>
    public static ModelHeader ReadHeader(string path) => ModelContent.Read(path).Header;

    /// <summary>Loads a model saved by <see cref="Save{T}"/> (or a checkpoint) in precision <typeparamref name="T"/>, converting if it was saved in the other one.</summary>
    /// <exception cref="FileFormatException">The file is not a valid model file.</exception>
    /// <exception cref="FileNotFoundException">There is no such file.</exception>
    public static Network<T> Load<T>(string path) where T : unmanaged, IFloatingPointIeee754<T> =>
        ModelContent.Read(path).BuildNetwork<T>();

    /// <summary>Loads a model from the bytes of a model file; <paramref name="name"/> names it in error messages.</summary>
    /// <exception cref="FileFormatException">The bytes are not a valid model file.</exception>
    public static Network<T> Load<T>(byte[] content, string name) where T : unmanaged, IFloatingPointIeee754<T> =>
        ModelContent.Parse(content, name).BuildNetwork<T>();

    /// <summary>The precision name stored in a file for <typeparamref name="T"/>: float32 or float64 (<see cref="Precisions.FileName"/> of <see cref="Precisions.Of{T}"/>).</summary>
    public static string PrecisionName<T>() => Precisions.Of<T>().FileName();

    /// <summary>
    /// Writes the file atomically: the model, and when <paramref name="training"/> is given, the
    /// training section (a JSON object whose <c>arrays</c> member lists <paramref name="arrays"/>) and its
    /// <paramref name="arrays"/> (float[], double[] or int[], in the order and of the lengths it lists).
    /// </summary>
    internal static void Write<T>(Network<T> network, string path, IReadOnlyDictionary<string, string>? metadata,
        JsonElement? training, IReadOnlyList<Array> arrays)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (!BitConverter.IsLittleEndian) throw new PlatformNotSupportedException("model files are written on little-endian machines");
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
            ClassNames = network.ClassNames is { } names ? [.. names] : null,
            Training = training,
        };
        if (training is { } section)
        {
            var listed = section.Deserialize(ModelFileJson.Default.TrainingArrays)?.Arrays ?? [];
            if (listed.Length != arrays.Count) throw new ArgumentException("the training section lists a different number of arrays than given", nameof(arrays));
            for (int i = 0; i < arrays.Count; i++)
                if (arrays[i].Length != listed[i].Length || StateArrayEntry.TypeOf(arrays[i]) != listed[i].Type)
                    throw new ArgumentException($"training array {listed[i].Name} is not {listed[i].Type}[{listed[i].Length}]", nameof(arrays));
        }
        byte[] headerBytes = JsonSerializer.SerializeToUtf8Bytes(header, ModelFileJson.Default.ModelHeader);
        if (headerBytes.Length > MaxHeaderBytes) throw new ArgumentException($"the model header is {headerBytes.Length} bytes, more than the {MaxHeaderBytes} a model file allows (shorten the metadata)");

        AtomicFile.Write(path, stream =>
        {
            var hash = new XxHash64();
            void Put(ReadOnlySpan<byte> bytes)
            {
                stream.Write(bytes);
                hash.Append(bytes);
            }
            Span<byte> word = stackalloc byte[4];
            Put(Magic);
            BinaryPrimitives.WriteInt32LittleEndian(word, training is null ? Version : CheckpointVersion);
            Put(word);
            BinaryPrimitives.WriteInt32LittleEndian(word, headerBytes.Length);
            Put(word);
            Put(headerBytes);
            foreach (var p in network.Parameters) Put(MemoryMarshal.AsBytes(p.Value.AsSpan()));
            foreach (var array in arrays) Put(StateArrayEntry.Bytes(array));
            Span<byte> digest = stackalloc byte[8];
            BinaryPrimitives.WriteUInt64LittleEndian(digest, hash.GetCurrentHashAsUInt64());
            stream.Write(digest);
        });
    }
}

/// <summary>
/// A model file read into memory and validated (everything but the meaning of the spec and
/// of the training arrays): the bytes, the header and where the payload sections start.
/// </summary>
internal sealed class ModelContent
{
    private ModelContent(string name, byte[] data, ModelHeader header, StateArrayEntry[] arrays, int parametersOffset, int arraysOffset, int version)
    {
        Name = name;
        Arrays = arrays;
        Data = data;
        Header = header;
        ParametersOffset = parametersOffset;
        ArraysOffset = arraysOffset;
        Version = version;
    }

    /// <summary>The file name used in error messages.</summary>
    public string Name { get; }

    /// <summary>The whole file.</summary>
    public byte[] Data { get; }

    /// <summary>The validated header.</summary>
    public ModelHeader Header { get; }

    /// <summary>The arrays the training section lists (none in a plain model file).</summary>
    public StateArrayEntry[] Arrays { get; }

    /// <summary>Offset of the first weight.</summary>
    public int ParametersOffset { get; }

    /// <summary>Offset of the first training array (the checksum's offset when there are none).</summary>
    public int ArraysOffset { get; }

    /// <summary>The format version (1 or 2).</summary>
    public int Version { get; }

    /// <summary>Bytes per stored weight.</summary>
    public int ElementSize => Header.StoredPrecision.Size();

    /// <summary>Reads and validates the file at <paramref name="path"/>.</summary>
    public static ModelContent Read(string path)
    {
        byte[] data;
        try
        {
            var info = new FileInfo(path);
            if (Directory.Exists(path)) throw new FileFormatException(path, -1, "is a folder, expected a model file");
            if (!info.Exists) throw new FileNotFoundException($"{path}: no such model file", path);
            if (info.Length > Array.MaxLength) throw new FileFormatException(path, 0, $"expected a model file of at most {Array.MaxLength} bytes, found {info.Length}");
            data = File.ReadAllBytes(path);
        }
        catch (UnauthorizedAccessException e)
        {
            throw new FileFormatException(path, -1, "cannot be read: " + e.Message, e);
        }
        return Parse(data, path);
    }

    /// <summary>Validates the bytes of a model file; <paramref name="name"/> names it in errors.</summary>
    public static ModelContent Parse(byte[] data, string name)
    {
        ArgumentNullException.ThrowIfNull(data);
        const int fixedBytes = ModelFile.HeaderOffset + 8;
        if (data.Length < fixedBytes)
            throw Error(data.Length, $"expected at least {fixedBytes} bytes (magic, version, header length, checksum), the file has {data.Length}");
        if (!data.AsSpan(0, 8).SequenceEqual("SCNNMODL"u8))
            throw Error(0, "expected the magic \"SCNNMODL\": this is not a SharpCnn model file");
        int version = BinaryPrimitives.ReadInt32LittleEndian(data.AsSpan(8));
        if (version is not (ModelFile.Version or ModelFile.CheckpointVersion))
            throw Error(8, $"expected format version {ModelFile.Version} or {ModelFile.CheckpointVersion}, found {version}");
        int headerLength = BinaryPrimitives.ReadInt32LittleEndian(data.AsSpan(12));
        if (headerLength <= 0 || headerLength > ModelFile.MaxHeaderBytes || (long)fixedBytes + headerLength > data.Length)
            throw Error(12, $"expected a header length of 1 to {Math.Min(ModelFile.MaxHeaderBytes, data.Length - fixedBytes)} bytes (it must fit in the file of {data.Length} bytes), found {headerLength}");
        ulong stored = BinaryPrimitives.ReadUInt64LittleEndian(data.AsSpan(data.Length - 8));
        ulong actual = XxHash64.HashToUInt64(data.AsSpan(0, data.Length - 8));
        if (stored != actual)
            throw Error(data.Length - 8, $"expected the checksum {actual:x16} of the content, found {stored:x16}: the file is damaged or truncated");

        ModelHeader? header;
        try
        {
            header = JsonSerializer.Deserialize(data.AsSpan(ModelFile.HeaderOffset, headerLength), ModelFileJson.Default.ModelHeader);
        }
        catch (JsonException e)
        {
            throw Error(ModelFile.HeaderOffset + (e.BytePositionInLine ?? 0), "expected a JSON header: " + OneLine(e.Message), e);
        }
        catch (Exception e) when (e is NotSupportedException or InvalidOperationException or ArgumentException or FormatException or OverflowException)
        {
            // Not JSON syntax errors, but values the serializer cannot map (e.g. a string where a number belongs).
            throw Error(ModelFile.HeaderOffset, "expected a JSON header: " + OneLine(e.Message), e);
        }
        int payloadStart = ModelFile.HeaderOffset + headerLength;
        long payloadLength = data.Length - 8L - payloadStart;
        long weightBytes = CheckHeader(header, version, name, out var checkedHeader, out var arrays);
        long arrayBytes = 0;
        foreach (var a in arrays) arrayBytes += (long)a.Length * StateArrayEntry.SizeOf(a.Type);
        if (weightBytes + arrayBytes != payloadLength)
            throw Error(payloadStart, $"expected {weightBytes} bytes of weights{(arrayBytes > 0 || version == 2 ? $" and {arrayBytes} bytes of training state" : "")} after the header, found {payloadLength}");
        return new ModelContent(name, data, checkedHeader, arrays, payloadStart, (int)(payloadStart + weightBytes), version);

        FileFormatException Error(long offset, string problem, Exception? inner = null) => new(name, offset, problem, inner);
    }

    /// <summary>Checks every header field a reader relies on; returns the number of weight bytes it announces.</summary>
    private static long CheckHeader(ModelHeader? header, int version, string name, out ModelHeader result, out StateArrayEntry[] arrays)
    {
        const int at = ModelFile.HeaderOffset;
        FileFormatException Error(string problem) => new(name, at, problem);
        if (header is null) throw Error("expected a JSON object as the header, found null");
        if (string.IsNullOrWhiteSpace(header.Spec)) throw Error("expected a model spec in the header (\"spec\"), found none");
        if (string.IsNullOrWhiteSpace(header.Loss)) throw Error("expected a loss name in the header (\"loss\"), found none");
        if (header.Input is not { Length: 3 } input || input.Any(v => v <= 0))
            throw Error($"expected the input shape as three positive sizes [C, H, W], found {Describe(header.Input)}");
        if ((long)input[0] * input[1] * input[2] > ModelFile.MaxInputValues)
            throw Error($"expected an input of at most {ModelFile.MaxInputValues} values per sample, found {input[0]}x{input[1]}x{input[2]}");
        if (!Precisions.TryParseFileName(header.Precision, out var precision))
            throw Error($"expected precision {Precision.Float32.FileName()} or {Precision.Float64.FileName()}, found '{header.Precision}'");
        if (header.Parameters is null) throw Error("expected a parameter list in the header (\"parameters\"), found none");
        int elementSize = precision.Size();
        long bytes = 0;
        for (int i = 0; i < header.Parameters.Length; i++)
        {
            var e = header.Parameters[i];
            if (e is null || e.Length <= 0 || e.Layer <= 0 || string.IsNullOrEmpty(e.Name))
                throw Error($"expected parameter {i + 1} to have a layer position, a name and a positive length, found {(e is null ? "null" : $"layer {e.Layer} '{e.Name}' of {e.Length} values")}");
            bytes += (long)e.Length * elementSize;
        }
        if (header.ClassNames is { } names)
        {
            if (names.Length > ModelFile.MaxInputValues) throw Error($"expected at most {ModelFile.MaxInputValues} class names, found {names.Length}");
            for (int i = 0; i < names.Length; i++)
                if (string.IsNullOrWhiteSpace(names[i])) throw Error($"expected every class name to be a non-empty string, found {(names[i] is null ? "null" : "an empty one")} for class {i}");
        }
        if (header.Metadata is { } metadata && metadata.Values.Any(v => v is null))
            throw Error("expected metadata values to be strings, found null");
        if (version == ModelFile.Version && header.Training is not null)
            throw Error($"expected no training section in a version {ModelFile.Version} model file (a checkpoint is version {ModelFile.CheckpointVersion}), found one");
        arrays = [];
        if (version == ModelFile.CheckpointVersion)
        {
            if (header.Training is not { ValueKind: JsonValueKind.Object } training) throw Error($"expected the training section of a version {ModelFile.CheckpointVersion} file (a checkpoint), found none");
            arrays = ReadSection(training, ModelFileJson.Default.TrainingArrays, name)?.Arrays ?? throw Error("expected the training section to list its arrays, found none");
            for (int i = 0; i < arrays.Length; i++)
            {
                var a = arrays[i];
                if (a is null || string.IsNullOrEmpty(a.Name) || a.Length < 0 || StateArrayEntry.SizeOf(a.Type) == 0)
                    throw Error($"expected training array {i + 1} to have a name, a type (float32, float64, int32) and a length, found {(a is null ? "null" : $"'{a.Name}' {a.Type}[{a.Length}]")}");
            }
        }
        result = header with { Metadata = header.Metadata ?? [] };
        return bytes;
    }

    /// <summary>
    /// Reads a section of the header (already parsed as JSON) as <typeparamref name="TSection"/>; a value the
    /// type cannot take is the same error as in the rest of the header.
    /// </summary>
    internal static TSection? ReadSection<TSection>(JsonElement section, JsonTypeInfo<TSection> type, string name)
    {
        try
        {
            return section.Deserialize(type);
        }
        catch (Exception e) when (e is JsonException or NotSupportedException or InvalidOperationException or ArgumentException or FormatException or OverflowException)
        {
            throw new FileFormatException(name, ModelFile.HeaderOffset, "expected a JSON header: " + OneLine(e.Message), e);
        }
    }

    /// <summary>
    /// Builds the network the header describes and fills in the weights. The spec may not
    /// allocate more parameter values than the file holds; every weight must be finite.
    /// </summary>
    public Network<T> BuildNetwork<T>() where T : unmanaged, IFloatingPointIeee754<T>
    {
        const int at = ModelFile.HeaderOffset;
        var header = Header;
        long stored = header.Parameters.Sum(e => (long)e.Length);
        Network<T> network;
        try
        {
            using var budget = ParameterBudget.Limit(stored, $"the file (which lists {stored} values)");
            network = ModelSpec.Parse(header.Spec).Build<T>(new Shape(header.Input[0], header.Input[1], header.Input[2]), header.Loss);
        }
        catch (ModelSpecException e)
        {
            throw new FileFormatException(Name, at, $"expected a valid model spec, found '{Shorten(header.Spec)}': {e.Message}", e);
        }
        var parameters = network.Parameters.ToArray();
        if (parameters.Length != header.Parameters.Length)
            throw new FileFormatException(Name, at, $"expected {parameters.Length} parameters (what the spec '{Shorten(header.Spec)}' has), the header lists {header.Parameters.Length}");
        int layerOf = 0, indexInLayer = 0;
        long offset = ParametersOffset;
        for (int i = 0; i < parameters.Length; i++)
        {
            while (indexInLayer >= network.Layers[layerOf].Parameters.Count)
            {
                layerOf++;
                indexInLayer = 0;
            }
            var p = parameters[i];
            var entry = header.Parameters[i];
            if (entry.Layer != layerOf + 1 || entry.Length != p.Length || entry.Name != p.Name)
                throw new FileFormatException(Name, at, $"expected parameter {i + 1} to be layer {layerOf + 1} {p.Name}[{p.Length}] (what the spec needs), the header lists layer {entry.Layer} {entry.Name}[{entry.Length}]");
            indexInLayer++;
            var bytes = Data.AsSpan((int)offset, p.Length * ElementSize);
            int bad = ElementSize == 8 ? Convert(MemoryMarshal.Cast<byte, double>(bytes), p.Value) : Convert(MemoryMarshal.Cast<byte, float>(bytes), p.Value);
            if (bad >= 0)
                throw new FileFormatException(Name, offset + (long)bad * ElementSize,
                    $"expected finite weights, found {(ElementSize == 8 ? BitConverter.ToDouble(bytes[(bad * 8)..]) : BitConverter.ToSingle(bytes[(bad * 4)..]))} in layer {layerOf + 1} '{network.Layers[layerOf].Token}' {p.Name}[{bad}]");
            p.ApplyMask();
            offset += bytes.Length;
        }
        Debug.Assert(offset == ArraysOffset);
        if (header.ClassNames is { } names)
        {
            if (names.Length != network.Classes)
                throw new FileFormatException(Name, at, $"expected {network.Classes} class names (one per output of the spec), the header lists {names.Length}");
            network.ClassNames = names;
        }
        long layerOffset = ParametersOffset;
        for (int k = 0; k < network.Layers.Count; k++)
        {
            var layer = network.Layers[k];
            if (layer.StateProblem() is { } problem)
                throw new FileFormatException(Name, layerOffset, $"expected usable saved state in layer {k + 1} '{layer.Token}', found: {problem}");
            foreach (var p in layer.Parameters) layerOffset += (long)p.Length * ElementSize;
        }
        return network;
    }

    /// <summary>Converts stored values into <paramref name="to"/>; returns the index of the first non-finite value, or -1.</summary>
    private static int Convert<TFrom, T>(ReadOnlySpan<TFrom> from, Span<T> to)
        where TFrom : unmanaged, IFloatingPointIeee754<TFrom>
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        for (int i = 0; i < from.Length; i++)
        {
            if (!TFrom.IsFinite(from[i])) return i;
            to[i] = T.CreateSaturating(from[i]);
            if (!T.IsFinite(to[i])) return i; // a float64 beyond the float32 range
        }
        return -1;
    }

    /// <summary>Training array <paramref name="index"/> as bytes (its type and length were validated against the file).</summary>
    public ReadOnlySpan<byte> ArrayBytes(int index, out long offset)
    {
        offset = ArraysOffset;
        for (int i = 0; i < index; i++) offset += (long)Arrays[i].Length * StateArrayEntry.SizeOf(Arrays[i].Type);
        return Data.AsSpan((int)offset, Arrays[index].Length * StateArrayEntry.SizeOf(Arrays[index].Type));
    }

    private static string Describe(int[]? values) => values is null ? "none" : $"[{string.Join(", ", values)}]";

    private static string Shorten(string text) => text.Length <= 120 ? text : text[..117] + "...";

    private static string OneLine(string text) => text.ReplaceLineEndings(" ");
}

/// <summary>One array of a checkpoint's training section.</summary>
/// <param name="Name">What it holds, e.g. <c>optimizer.3</c>, <c>order</c>.</param>
/// <param name="Type">float32, float64 or int32.</param>
/// <param name="Length">Number of elements.</param>
public sealed record StateArrayEntry(
    [property: JsonPropertyName("name")] string Name,
    [property: JsonPropertyName("type")] string Type,
    [property: JsonPropertyName("length")] int Length)
{
    /// <summary>Bytes per element of <paramref name="type"/> (a precision's <see cref="Precisions.FileName"/>, or int32); 0 for an unknown type.</summary>
    public static int SizeOf(string? type) =>
        type == Int32 ? 4 : Precisions.TryParseFileName(type, out var precision) ? precision.Size() : 0;

    /// <summary>The type name of int arrays.</summary>
    internal const string Int32 = "int32";

    internal static string TypeOf(Array array) => array switch
    {
        float[] => Precision.Float32.FileName(),
        double[] => Precision.Float64.FileName(),
        int[] => Int32,
        _ => throw new ArgumentException($"training arrays are float, double or int, not {array.GetType().Name}"),
    };

    internal static ReadOnlySpan<byte> Bytes(Array array) => array switch
    {
        float[] f => MemoryMarshal.AsBytes(f.AsSpan()),
        double[] d => MemoryMarshal.AsBytes(d.AsSpan()),
        int[] i => MemoryMarshal.AsBytes(i.AsSpan()),
        _ => throw new ArgumentException($"training arrays are float, double or int, not {array.GetType().Name}"),
    };

    internal static StateArrayEntry For(string name, Array array) => new(name, TypeOf(array), array.Length);
}

[JsonSourceGenerationOptions(WriteIndented = false, NumberHandling = JsonNumberHandling.Strict, PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower)]
[JsonSerializable(typeof(ModelHeader))]
[JsonSerializable(typeof(TrainingArrays))]
internal sealed partial class ModelFileJson : JsonSerializerContext;
