// One IDX file in memory: its dimension sizes and its unsigned-byte data, row-major
// (the last dimension varies fastest), as read by IdxReader.

namespace SharpCnn.Data;

/// <summary>The content of one IDX file of unsigned bytes: sizes and data.</summary>
public sealed class IdxArray
{
    private readonly int[] _dimensions;

    internal IdxArray(string name, int[] dimensions, byte[] data, long dataOffset)
    {
        Name = name;
        _dimensions = dimensions;
        Data = data;
        DataOffset = dataOffset;
    }

    /// <summary>The file name the array was read from, as given to the reader (used in error messages).</summary>
    public string Name { get; }

    /// <summary>Dimension sizes, outermost first (e.g. count, rows, cols for an images file).</summary>
    public IReadOnlyList<int> Dimensions => _dimensions;

    /// <summary>The data, row-major; its length is the product of <see cref="Dimensions"/>.</summary>
    public byte[] Data { get; }

    /// <summary>Byte offset of the first data byte in the (decompressed) file: 4 + 4 * number of dimensions.</summary>
    public long DataOffset { get; }
}
