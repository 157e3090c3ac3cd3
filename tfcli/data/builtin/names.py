"""People's and company names, shared by the ``headlines`` and ``facts`` generators."""

from __future__ import annotations

FIRST_F = (
    "Maria Lena Sara Anna Julia Nora Emma Olivia Grace Chloe Hannah Leila Mei Priya Amara Ines "
    "Clara Rosa Elena Zoe"
).split()
FIRST_M = (
    "Tom David Omar Lucas Marco Daniel Samuel Jonas Victor Leo Ravi Kenji Hugo Felix Mateo Adam "
    "Ivan Noah Peter Yusuf"
).split()
LAST = (
    "Park Lopez Novak Okafor Schmidt Rossi Tanaka Kowalski Silva Haddad Nguyen Fischer Moreau "
    "Jensen Costa Patel Berg Walsh Romero Sato Dubois Larsen Mendes Keller Brennan Ortiz Hale "
    "Quinn Varga Lindqvist Adeyemi Chen Murphy Rahman Weber Castillo Marsh Ibarra Hughes Stone"
).split()
COMPANY_A = (
    "Northwind Bluepeak Silverline Greenleaf Redstone Brightwater Ironwood Suncrest Clearpath "
    "Highland Oakmont Starfield Riverbend Goldcrest Westbrook"
).split()
COMPANY_B = "Foods Motors Energy Bank Systems Logistics Pharma Textiles Airlines Media".split()
