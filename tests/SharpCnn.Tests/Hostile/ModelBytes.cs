// Takes model files apart and puts them back together with a valid checksum, so hostile
// cases can reach the checks behind the checksum (a wrong spec, a lying parameter list).

using System.Buffers.Binary;
using System.IO.Hashing;
using System.Text;
using System.Text.Json.Nodes;

namespace SharpCnn.Tests.Hostile;

internal static class ModelBytes
{
    /// <summary>The version, the JSON header and the payload (weights and training arrays) of a valid model file.</summary>
    public static (int Version, JsonObject Header, byte[] Payload) Split(byte[] file)
    {
        int version = BinaryPrimitives.ReadInt32LittleEndian(file.AsSpan(8));
        int length = BinaryPrimitives.ReadInt32LittleEndian(file.AsSpan(12));
        var header = JsonNode.Parse(file.AsSpan(16, length))!.AsObject();
        return (version, header, file[(16 + length)..^8]);
    }

    /// <summary>A model file from its parts, with the checksum it should have.</summary>
    public static byte[] Join(int version, string header, byte[] payload)
    {
        byte[] json = Encoding.UTF8.GetBytes(header);
        var file = new byte[16 + json.Length + payload.Length + 8];
        "SCNNMODL"u8.CopyTo(file);
        BinaryPrimitives.WriteInt32LittleEndian(file.AsSpan(8), version);
        BinaryPrimitives.WriteInt32LittleEndian(file.AsSpan(12), json.Length);
        json.CopyTo(file, 16);
        payload.CopyTo(file, 16 + json.Length);
        return Reseal(file);
    }

    public static byte[] Join(int version, JsonObject header, byte[] payload) => Join(version, header.ToJsonString(), payload);

    /// <summary>Rewrites the last 8 bytes as the XxHash64 of the rest (a file shorter than 8 bytes is left alone).</summary>
    public static byte[] Reseal(byte[] file)
    {
        if (file.Length >= 8)
            BinaryPrimitives.WriteUInt64LittleEndian(file.AsSpan(file.Length - 8), XxHash64.HashToUInt64(file.AsSpan(0, file.Length - 8)));
        return file;
    }

    /// <summary><paramref name="file"/> with its header changed by <paramref name="edit"/>, resealed.</summary>
    public static byte[] EditHeader(byte[] file, Action<JsonObject> edit)
    {
        var (version, header, payload) = Split(file);
        edit(header);
        return Join(version, header, payload);
    }
}
