// GIF files written by hand (Skia has no GIF encoder): GIF89a, a 256-entry global colour table, one
// image, and LZW data that stays at 9-bit codes by sending a clear code every 250 literal codes, so
// the encoder needs no dictionary and every machine writes the same bytes.

namespace SharpCnn.Tests.Hostile;

internal static class GifBytes
{
    /// <summary>A GIF of <paramref name="width"/> x <paramref name="height"/> palette indices <paramref name="index"/>(x, y) into <paramref name="palette"/> (256 colours).</summary>
    public static byte[] Indexed(int width, int height, Func<int, int, byte> index, (byte R, byte G, byte B)[] palette, int? declaredWidth = null, int? declaredHeight = null)
    {
        if (palette.Length != 256) throw new ArgumentException("the palette has 256 colours");
        var file = new List<byte>();
        file.AddRange("GIF89a"u8.ToArray());
        void Word(int v) { file.Add((byte)v); file.Add((byte)(v >> 8)); }
        Word(declaredWidth ?? width);
        Word(declaredHeight ?? height);
        file.Add(0xF7); // global colour table, 8 bits per primary, 2^(7+1) entries
        file.Add(0);    // background colour index
        file.Add(0);    // pixel aspect ratio
        foreach (var (r, g, b) in palette) file.AddRange([r, g, b]);
        file.Add(0x2C); // image descriptor
        Word(0);
        Word(0);
        Word(declaredWidth ?? width);
        Word(declaredHeight ?? height);
        file.Add(0);    // no local table, not interlaced
        file.Add(8);    // LZW minimum code size
        var codes = new List<int> { 256 };
        int run = 0;
        for (int y = 0; y < height; y++)
            for (int x = 0; x < width; x++)
            {
                if (run == 250)
                {
                    codes.Add(256);
                    run = 0;
                }
                codes.Add(index(x, y));
                run++;
            }
        codes.Add(257);
        var data = new List<byte>();
        int bits = 0, buffer = 0;
        foreach (int code in codes)
        {
            buffer |= code << bits;
            bits += 9;
            while (bits >= 8)
            {
                data.Add((byte)buffer);
                buffer >>= 8;
                bits -= 8;
            }
        }
        if (bits > 0) data.Add((byte)buffer);
        for (int i = 0; i < data.Count; i += 255)
        {
            int n = Math.Min(255, data.Count - i);
            file.Add((byte)n);
            file.AddRange(data.GetRange(i, n));
        }
        file.Add(0);    // end of the image data
        file.Add(0x3B); // trailer
        return [.. file];
    }

    /// <summary>A palette of the 256 grey levels.</summary>
    public static (byte, byte, byte)[] GreyPalette() => [.. Enumerable.Range(0, 256).Select(v => ((byte)v, (byte)v, (byte)v))];
}
