// Byte-to-number table for image pixels: entry p is p / 255 in T, computed once per T,
// so converting a batch is a table lookup per pixel and allocates nothing.

using System.Numerics;

namespace SharpCnn.Data;

internal static class PixelScale<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>Entry p is T(p) / T(255), correctly rounded in T.</summary>
    public static readonly T[] Table = Build();

    private static T[] Build()
    {
        var table = new T[256];
        T max = T.CreateChecked(255);
        for (int p = 0; p < table.Length; p++) table[p] = T.CreateChecked(p) / max;
        return table;
    }
}
