// BMP files written by hand (Skia has no BMP encoder): 24-bit BI_RGB, bottom-up rows padded to 4 bytes,
// a 14-byte file header and a 40-byte BITMAPINFOHEADER.

using System.Buffers.Binary;

namespace SharpCnn.Tests.Hostile;

internal static class BmpBytes
{
    /// <summary>A 24-bit BMP of <paramref name="width"/> x <paramref name="height"/>, pixel (x, y) = <paramref name="pixel"/>(x, y) as (r, g, b).</summary>
    public static byte[] Rgb24(int width, int height, Func<int, int, (byte R, byte G, byte B)> pixel, int? declaredWidth = null, int? declaredHeight = null)
    {
        int stride = (3 * width + 3) & ~3;
        int size = 54 + stride * height;
        var file = new byte[size];
        file[0] = (byte)'B';
        file[1] = (byte)'M';
        BinaryPrimitives.WriteInt32LittleEndian(file.AsSpan(2), size);
        BinaryPrimitives.WriteInt32LittleEndian(file.AsSpan(10), 54);
        BinaryPrimitives.WriteInt32LittleEndian(file.AsSpan(14), 40);
        BinaryPrimitives.WriteInt32LittleEndian(file.AsSpan(18), declaredWidth ?? width);
        BinaryPrimitives.WriteInt32LittleEndian(file.AsSpan(22), declaredHeight ?? height);
        BinaryPrimitives.WriteInt16LittleEndian(file.AsSpan(26), 1);
        BinaryPrimitives.WriteInt16LittleEndian(file.AsSpan(28), 24);
        BinaryPrimitives.WriteInt32LittleEndian(file.AsSpan(34), stride * height);
        BinaryPrimitives.WriteInt32LittleEndian(file.AsSpan(38), 2835);
        BinaryPrimitives.WriteInt32LittleEndian(file.AsSpan(42), 2835);
        for (int y = 0; y < height; y++)
            for (int x = 0; x < width; x++)
            {
                var (r, g, b) = pixel(x, y);
                int o = 54 + (height - 1 - y) * stride + 3 * x; // bottom-up
                file[o] = b;
                file[o + 1] = g;
                file[o + 2] = r;
            }
        return file;
    }
}
