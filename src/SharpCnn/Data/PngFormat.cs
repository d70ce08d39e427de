namespace SharpCnn.Data;

/// <summary>The PNG colour types (PNG specification, IHDR): how many samples a pixel has and what they mean.</summary>
public enum PngColorType : byte
{
    /// <summary>One grey sample per pixel.</summary>
    Grey = 0,

    /// <summary>Red, green and blue samples.</summary>
    Rgb = 2,

    /// <summary>One index into the PLTE palette.</summary>
    Palette = 3,

    /// <summary>Grey and alpha samples.</summary>
    GreyAlpha = 4,

    /// <summary>Red, green, blue and alpha samples.</summary>
    Rgba = 6,
}

/// <summary>What the PNG reader and writer share: the file signature and the Paeth predictor (PNG specification).</summary>
public static class PngFormat
{
    /// <summary>The 8 bytes every PNG file starts with.</summary>
    public static ReadOnlySpan<byte> Signature => [0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A];

    /// <summary>The Paeth predictor: whichever of left (a), above (b) and upper-left (c) is closest to a + b - c (ties: a, then b).</summary>
    internal static int Paeth(int a, int b, int c)
    {
        int p = a + b - c;
        int pa = Math.Abs(p - a), pb = Math.Abs(p - b), pc = Math.Abs(p - c);
        return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
    }
}
