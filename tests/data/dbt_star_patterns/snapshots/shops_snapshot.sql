{% snapshot shops_snapshot %}
{{ config(target_schema='main', unique_key='ID', strategy='check', check_cols='all') }}
select * from {{ ref('stg_shops') }}
{% endsnapshot %}
